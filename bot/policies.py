"""Rasa's TED policy, loaded for serving without a training step: the same policy, the same weights and
the same predictions, about 6 seconds sooner at every start of the Rasa server.

Rasa's `RasaModel.load` builds a TED network's weights by compiling it and fitting it on one example
(TensorFlow traces the whole training step, the loss included) before it reads the trained weights. For
predicting, one traced prediction step builds every weight a prediction uses: `ServingTED.load` asks
TensorFlow to restore the checkpoint first (a variable created afterwards takes its saved value when it is
made) and then runs that prediction, as Rasa does anyway to warm up. Weights only training uses (the
optimizer's) stay unread (`expect_partial`). Training, fine-tuning and everything else are TED's own;
`tests/test_policies.py` checks that both loads predict the same.

In `config.yml`: `- name: bot.policies.FastLoadingTEDPolicy`, with TED's settings.
"""

from __future__ import annotations

from typing import Any, Optional, Text, Type

from rasa.core.policies.ted_policy import TED, TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.utils.tensorflow.model_data import RasaModelData


class ServingTED(TED):
    """TED whose `load` skips the one-example training step when it only has to predict."""

    @classmethod
    def load(
        cls,
        model_file_name: Text,
        model_data_example: RasaModelData,
        predict_data_example: Optional[RasaModelData] = None,
        finetune_mode: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> TED:
        if finetune_mode or predict_data_example is None:
            # Fine-tuning needs the optimizer's weights, which only the training step builds.
            return super().load(model_file_name, model_data_example, predict_data_example, finetune_mode,
                                *args, **kwargs)
        model = cls(*args, **kwargs)
        # Restore first: the prediction below creates the variables, each taking its saved value, and
        # caches the label embeddings from those values (done the other way round, it would cache them
        # from random weights).
        model.load_weights(model_file_name).expect_partial()
        model.run_inference(predict_data_example)
        return model


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class FastLoadingTEDPolicy(TEDPolicy):
    """TEDPolicy whose network loads through `ServingTED`."""

    @staticmethod
    def model_class() -> Type[TED]:
        return ServingTED
