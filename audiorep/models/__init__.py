"""PyTorch models: the recurrent autoencoder and the MLP classifier."""

from .autoencoder import READOUTS, ConvFrontEnd, Seq2SeqAutoencoder, Standardizer
from .classifier import MLPClassifier

__all__ = ["ConvFrontEnd", "MLPClassifier", "READOUTS", "Seq2SeqAutoencoder", "Standardizer"]
