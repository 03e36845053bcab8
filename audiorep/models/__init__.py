"""PyTorch models: the recurrent autoencoder, the MLP classifier and the codec's network."""

from .autoencoder import READOUTS, ConvFrontEnd, Seq2SeqAutoencoder, Standardizer
from .classifier import MLPClassifier
from .codec_network import CodecAutoencoder

__all__ = ["CodecAutoencoder", "ConvFrontEnd", "MLPClassifier", "READOUTS", "Seq2SeqAutoencoder", "Standardizer"]
