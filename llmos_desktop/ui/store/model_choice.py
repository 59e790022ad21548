"""Which model runs an app, decided before Run is pressed (no Qt here).

The Store never swaps the model behind the user's back, and never runs an app on
nothing:

1. **A model is loaded** (the chat's, or one loaded for an earlier app): the app runs
   on it. When it is not one the app recommends, or its context is smaller than the
   app asks for, the app page says so and offers the recommended model.
2. **Nothing is loaded, the library has a recommended model**: that one is loaded
   (with its per-model defaults, as the chat loads it) when Run is pressed.
3. **Else the starter model** (SmolLM2-135M-Instruct, shipped with the app), as the
   chat does on a fresh install; the page says it is weak at most apps and offers the
   recommended model.
4. **Nothing at all**: Run explains, and the recommended model is offered (the Models
   pane downloads it).

``plan_model`` blocks (a library scan, the starter's checksum on first use): the page
runs it off the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmos_desktop.core.apps.manifest import AppManifest, RecommendedModel
from llmos_desktop.core.engine.contract import LoadOptions, ModelLoad

if TYPE_CHECKING:
    from llmos_desktop.core.models.service import ModelsService
    from llmos_desktop.core.models.types import LocalModel

PlanKind = Literal["loaded", "library", "starter", "none"]


@dataclass(frozen=True)
class ModelPlan:
    """How an app would run now."""

    kind: PlanKind
    name: str  # the model's file name ("" for none)
    spec: ModelLoad | None  # what Run loads first (None: the loaded model, or none)
    recommended: bool  # the model is one the app recommends
    short_context: int | None = None  # the loaded context, when below the app's minimum
    min_context: int | None = None  # what the app asks for (the smallest recommendation)

    @property
    def runnable(self) -> bool:
        return self.kind != "none"


def _file_name(path: str | Path) -> str:
    return Path(path).name.casefold()


def _recommends(app: AppManifest, path: str | Path) -> RecommendedModel | None:
    name = _file_name(path)
    return next((m for m in app.recommended_models if m.file.casefold() == name), None)


def min_context(app: AppManifest) -> int | None:
    """The context the app needs: the smallest any of its recommendations asks for."""
    values = [m.min_context for m in app.recommended_models]
    return min(values) if values else None


def plan_model(
    app: AppManifest,
    loaded: ModelLoad | None,
    *,
    models: ModelsService | None,
    base: LoadOptions,
    starter: Path | None,
) -> ModelPlan:
    """The plan for ``app`` (see the module docstring). ``starter``: the starter model's
    file when this installation has one (checked by the caller)."""
    needed = min_context(app)
    if loaded is not None:
        short = loaded.n_ctx if needed is not None and loaded.n_ctx < needed else None
        return ModelPlan(
            "loaded",
            Path(loaded.path).name,
            None,
            _recommends(app, loaded.path) is not None,
            short,
            needed,
        )
    if models is not None and app.recommended_models:
        library: list[LocalModel] = [
            m for m in models.library.scan() if m.error is None and not m.is_mmproj
        ]
        for wanted in app.recommended_models:
            match = next((m for m in library if _file_name(m.path) == wanted.file.casefold()), None)
            if match is not None:
                spec = models.load_spec(match, base)
                if spec.n_ctx < wanted.min_context:
                    spec = ModelLoad(**{**spec.model_dump(), "n_ctx": wanted.min_context})
                return ModelPlan("library", match.path.name, spec, True, None, needed)
    if starter is not None:
        options = models.load_options_for(starter, base) if models is not None else base
        spec = ModelLoad(path=str(starter), **options.model_dump())
        return ModelPlan(
            "starter", starter.name, spec, _recommends(app, starter) is not None, None, needed
        )
    return ModelPlan("none", "", None, False, None, needed)
