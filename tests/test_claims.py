"""Papers' headline claims that run in seconds, shown on the toolkit's own pieces.

Each asserts the direction and the size of an effect on a seed, not a stored number:

- Goodfellow et al. (2014), Sec. 3: early in training, when D rejects the samples with
  high confidence, log(1 - D(G(z))) saturates: the minimax generator's gradient
  vanishes, and the -log D(G(z)) generator's does not.
- Arjovsky & Bottou (2017), "Towards Principled Methods for Training GANs": with the
  data and the samples on disjoint low-dimensional supports, a trained D is perfect and
  G's gradient vanishes (Sec. 2.2, Theorem 2.4); instance noise on D's inputs makes the
  distributions overlap and restores it (Sec. 3, Theorem 3.2).
"""
import torch

from conftest import tiny_sets
from gankit.components import load_config
from gankit.objectives.minimax import Minimax, NonSaturating
from gankit.train import Trainer


def g_grad_norm(t, objective):
    """||grad_theta_G L_G|| for a fresh noise batch, through D as the loop sees it."""
    fake = t.G(t.sample_z(t.cfg.data.batch_size))
    loss, _ = objective.g_loss(t.d_view, fake, None)
    grads = torch.autograd.grad(loss, list(t.G.parameters()))
    return float(torch.sqrt(sum((g ** 2).sum() for g in grads)))


def d_fake(t):
    with torch.no_grad():
        fake = t.G(t.sample_z(256))
        return float(t.d_view(fake)[0].sigmoid().mean())


def test_minimax_generator_gradient_vanishes_when_d_wins_and_minus_log_d_does_not(tmp_path):
    sets = tiny_sets(tmp_path, **{"train.eval_every": 0})
    runs = {}
    for game, loss in (("minimax", Minimax), ("nonsaturating", NonSaturating)):
        t = Trainer(load_config(sets=sets + [f"objective.name='{game}'"]))
        obj = loss(loss.Options())
        at_start = g_grad_norm(t, obj)
        for _ in range(150):  # D's head start against the initial G (same seed: same D)
            t.d_step()
        assert d_fake(t) < 0.02  # D rejects the samples confidently
        norms = []
        for _ in range(10):  # the first generator steps of each game
            norms.append(g_grad_norm(t, obj))
            t.train_step()
        runs[game] = (at_start, sum(norms) / len(norms))
    (mm0, mm), (ns0, ns) = runs["minimax"], runs["nonsaturating"]
    assert 0.2 < mm0 / ns0 < 5  # before D wins, the two gradients are alike
    assert mm < 0.1 * ns, runs  # after, the minimax one has all but vanished (~1/40)


def test_instance_noise_restores_the_gradient_a_perfect_discriminator_takes_away(tmp_path):
    # the data: 8 points (std 1e-4), a 0-dimensional manifold; G's samples lie elsewhere
    sets = tiny_sets(tmp_path, **{"train.eval_every": 0, "data.std": 0.0001,
                                  "objective.name": "'minimax'"})
    noise = ["stabilizers=[{name='instance_noise', sigma0=0.5, steps=1000000}]"]
    out = {}
    for name, extra in (("clean", []), ("noise", noise)):
        t = Trainer(load_config(sets=sets + extra))
        for _ in range(300):  # D towards its optimum against a fixed G
            t.d_step()
        torch.manual_seed(0)
        grad = sum(g_grad_norm(t, Minimax(Minimax.Options())) for _ in range(5)) / 5
        out[name] = (d_fake(t), grad)
    (clean_d, clean_g), (noise_d, noise_g) = out["clean"], out["noise"]
    assert clean_d < 0.01 < noise_d  # saturated without noise, not with it
    assert noise_g > 10 * clean_g, out
