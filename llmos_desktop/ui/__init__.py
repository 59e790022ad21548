"""The PySide6 user interface. Only this package imports Qt; it receives core services
(Engine, Settings, AppPaths) through constructors and never reaches for globals."""
