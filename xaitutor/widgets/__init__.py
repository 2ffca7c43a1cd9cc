"""Thin ipywidgets controls over the pure functions of the library, one module per topic
(``concepts``, ``saliency``, ``influence``, ``counterfactuals``, ``latent``,
``recourse``, ``shapley``) over a shared ``Explorer`` helper.

Each builder returns an ``ipywidgets.VBox`` ready to display. For tests (and the
curious) the box also carries ``.controls`` (name → control widget) and the widgets it
draws into (``.status``, ``.image``, ``.view``), so it can be driven without a browser:
set ``box.controls["dataset"].value = "dot"`` and read ``box.status.value``.
A bad value shows a message inside the widget, which keeps working.
"""
from ._explorer import Explorer, message, time_update
from .concepts import LAMBDAS, MODEL_CHOICES, concept_model_explorer, intervention_playground
from .counterfactuals import counterfactual_explorer, path_explorer
from .influence import influence_explorer
from .latent import latent_explorer, latent_sliders
from .recourse import flipset_explorer, scm_explorer
from .saliency import BASELINES, deletion_explorer, saliency_explorer
from .shapley import coalition_explorer, shapley_explorer

__all__ = ["concept_model_explorer", "intervention_playground", "saliency_explorer",
           "deletion_explorer", "influence_explorer", "counterfactual_explorer", "path_explorer",
           "latent_explorer", "latent_sliders", "flipset_explorer", "scm_explorer",
           "shapley_explorer", "coalition_explorer", "time_update",
           "Explorer", "message", "MODEL_CHOICES", "LAMBDAS", "BASELINES"]
