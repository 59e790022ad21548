"""Light and dark: follow the system's colour scheme, or the user's choice in Settings.

Qt 6.5+ reports the system's scheme (``QStyleHints.colorScheme``) and signals when it
changes. Where the platform theme also supplies a matching palette (macOS, Windows 11's
style, KDE, GTK with the gtk3 platform theme) nothing needs doing: the system palette is
kept. Where it does not (a dark desktop whose Qt gets no dark palette, the Windows Vista
style, Xvfb, or a choice that differs from the system's), the window switches to the
Fusion style with a palette of our own, because Fusion draws every control from the
palette. Going back restores the style and palette the application started with.

Widgets draw with palette roles (stylesheets use ``palette(...)``), so a change of theme
repaints them without rebuilding anything.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from llmos_desktop.core.appearance import Theme

# Native styles that draw their own light controls whatever the palette says (Windows'
# Vista style, Qt's default on Windows 10 and on Qt < 6.7's Windows 11): dark needs Fusion.
LIGHT_ONLY_STYLES = frozenset({"windowsvista"})

_Role = QPalette.ColorRole
_Group = QPalette.ColorGroup


def is_dark(palette: QPalette) -> bool:
    """True when the palette draws light text on a dark window."""
    window = palette.color(_Group.Active, _Role.Window)
    text = palette.color(_Group.Active, _Role.WindowText)
    return window.lightness() < text.lightness()


def dark_palette() -> QPalette:
    """A dark palette for Fusion, close to the dark themes of GNOME and KDE."""
    p = QPalette()
    colours = {
        _Role.Window: "#2b2b2b",
        _Role.WindowText: "#e8e8e8",
        _Role.Base: "#1f1f1f",
        _Role.AlternateBase: "#2f2f2f",
        _Role.ToolTipBase: "#3a3a3a",
        _Role.ToolTipText: "#f0f0f0",
        _Role.PlaceholderText: "#9a9a9a",
        _Role.Text: "#e8e8e8",
        _Role.Button: "#353535",
        _Role.ButtonText: "#e8e8e8",
        _Role.BrightText: "#ff6b6b",
        _Role.Light: "#4a4a4a",
        _Role.Midlight: "#3e3e3e",
        _Role.Mid: "#4f4f4f",
        _Role.Dark: "#1a1a1a",
        _Role.Shadow: "#000000",
        _Role.Highlight: "#3d7bd9",
        _Role.HighlightedText: "#ffffff",
        _Role.Link: "#7ab4ff",
        _Role.LinkVisited: "#c79bff",
    }
    for role, colour in colours.items():
        p.setColor(_Group.All, role, QColor(colour))
    # Disabled controls: dimmer text, so they read as unavailable.
    for role, colour in {
        _Role.WindowText: "#7d7d7d",
        _Role.Text: "#7d7d7d",
        _Role.ButtonText: "#7d7d7d",
        _Role.Base: "#262626",
        _Role.Button: "#2f2f2f",
        _Role.Highlight: "#4a4a4a",
        _Role.HighlightedText: "#9a9a9a",
        _Role.PlaceholderText: "#6a6a6a",
    }.items():
        p.setColor(_Group.Disabled, role, QColor(colour))
    return p


class ThemeManager(QObject):
    """Applies a Theme to the application and follows the system while it is "system"."""

    theme_applied = Signal(bool)  # True: dark

    def __init__(self, app: QApplication, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._app = app
        # The platform's style, kept so that a theme it can draw goes back to it.
        self._original_style = app.style().name()
        self._overridden = False  # Fusion and a palette of ours are in use
        self._choice: Theme = "system"
        self._scheme = QGuiApplication.styleHints().colorScheme()
        self._dark = is_dark(app.palette())
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            self._on_style_hints_color_scheme_changed
        )
        self._following = True

    @property
    def choice(self) -> Theme:
        return self._choice

    @property
    def dark(self) -> bool:
        """Whether the window is dark now."""
        return self._dark

    def apply(self, choice: Theme) -> None:
        """Switch to ``choice`` now (and, for "system", whenever the system switches)."""
        self._choice = choice
        self._update()

    def detach(self) -> None:
        """Stop following the system (the window is closing); the theme stays as it is."""
        if self._following:
            self._following = False
            with contextlib.suppress(RuntimeError, TypeError):
                QGuiApplication.styleHints().colorSchemeChanged.disconnect(
                    self._on_style_hints_color_scheme_changed
                )

    def restore(self) -> None:
        """Back to the platform's own style and palette."""
        if self._overridden:
            self._set_style(self._original_style)
            # A palette with nothing set: Qt follows the platform's palette again,
            # including its later changes.
            self._app.setPalette(QPalette())
            self._overridden = False
        self._dark = is_dark(self._app.palette())

    def _wants_dark(self, platform_dark: bool) -> bool:
        if self._choice == "system":
            if self._scheme == Qt.ColorScheme.Unknown:
                return platform_dark  # the platform does not say: its palette does
            return self._scheme == Qt.ColorScheme.Dark
        return self._choice == "dark"

    def _update(self) -> None:
        self.restore()  # to see what the platform offers now
        platform_dark = is_dark(self._app.palette())
        dark = self._wants_dark(platform_dark)
        native_dark = self._original_style.lower() not in LIGHT_ONLY_STYLES
        if dark != platform_dark or (dark and not native_dark):
            # The platform's palette does not match: Fusion draws everything from the
            # palette, so it can be dark (or light) on any platform.
            self._set_style("Fusion")
            self._app.setPalette(dark_palette() if dark else self._light_palette())
            self._overridden = True
            self._dark = dark
        self.theme_applied.emit(self._dark)

    @staticmethod
    def _light_palette() -> QPalette:
        style = QStyleFactory.create("Fusion")
        palette = QPalette(style.standardPalette())
        style.deleteLater()
        return palette

    def _set_style(self, name: str) -> None:
        if self._app.style().name().lower() != name.lower():
            self._app.setStyle(name)

    def _on_style_hints_color_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self._scheme = scheme
        if self._choice == "system":
            self._update()
