"""Training and measuring smile-net; none of it runs in the pipeline or on the DeepLens.

* :mod:`.config`: :class:`TrainConfig`, the recipe (no MXNet needed);
* :mod:`.datasets`: the labelled face sets, cut into crops as the pipeline cuts them;
* :mod:`.architectures`: the Gluon networks;
* :mod:`.train`: the training loop; :mod:`.ensemble`: several nets fused into one;
* :mod:`.augment`, :mod:`.calibration`, :mod:`.distill`, :mod:`.weight_average`: the loop's parts;
* :mod:`.export`: the inference graph that ships;
* :mod:`.evaluate`: smile-net and two baselines on the held-out sets.

Importing this package imports nothing heavy; the modules that need MXNet import it themselves.
"""
