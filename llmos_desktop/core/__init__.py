"""Qt-free core of LLMOS Desktop. Nothing under this package may import PySide6, qasync or ui."""
