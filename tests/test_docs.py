"""Every example in the public docstrings runs and prints what it claims."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["audiorep", "audiorep.dsp", "audiorep.audio", "audiorep.datasets", "audiorep.store", "audiorep.mesh",
           "audiorep.features", "audiorep.extract", "audiorep.examples", "audiorep.plot",
           "audiorep.models.autoencoder", "audiorep.models.classifier", "audiorep.train", "audiorep.evaluate",
           "audiorep.export", "audiorep.codec", "audiorep.codec.bitstream", "audiorep.codec.decoding",
           "audiorep.codec.encoding", "audiorep.codec.entropy", "audiorep.codec.network", "audiorep.codec.synthesis",
           "audiorep.models.codec_network", "audiorep.serve.app", "audiorep.serve.analysis"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name in ("audiorep.plot",):
        pytest.importorskip("matplotlib")
        pytest.importorskip("plotly")
    if name.startswith(("audiorep.models", "audiorep.train", "audiorep.evaluate", "audiorep.export")):
        pytest.importorskip("torch")
    if name.startswith("audiorep.serve"):
        pytest.importorskip("audiorep.serve", reason="the serve extra is not installed")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
