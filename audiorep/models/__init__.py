"""PyTorch models: the recurrent autoencoder and the MLP classifier."""

from .autoencoder import Seq2SeqAutoencoder, Standardizer
from .classifier import MLPClassifier

__all__ = ["MLPClassifier", "Seq2SeqAutoencoder", "Standardizer"]
