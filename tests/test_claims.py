"""Papers' headline claims that run in seconds, shown on the toolkit's own pieces.

Each asserts the direction and the size of an effect on a seed, not a stored number:

- Goodfellow et al. (2014), Sec. 3: early in training, when D rejects the samples with
  high confidence, log(1 - D(G(z))) saturates: the minimax generator's gradient
  vanishes, and the -log D(G(z)) generator's does not.
- Arjovsky & Bottou (2017), "Towards Principled Methods for Training GANs": with the
  data and the samples on disjoint low-dimensional supports, a trained D is perfect and
  G's gradient vanishes (Sec. 2.2, Theorem 2.4); instance noise on D's inputs makes the
  distributions overlap and restores it (Sec. 3, Theorem 3.2).
- Arjovsky, Chintala & Bottou (2017), Sec. 3 and 4.1: a critic trained towards
  optimality estimates the Earth-Mover distance (up to its Lipschitz constant), so its
  estimate follows the distance between G's samples and the data; a critic one step
  behind G does not.
- Berthelot, Schumm & Metz (2017), Sec. 3.4.1: BEGAN's M_global falls as the samples
  near the data; and, as a measure of the game's convergence, also when the game
  settles with G no nearer.
"""
import copy
import importlib.util
from pathlib import Path

import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr

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


def claims_script():
    """benchmarks/claims.py as a module: the test runs the benchmark's own experiment."""
    spec = importlib.util.spec_from_file_location(
        "claims", Path(__file__).resolve().parents[1] / "benchmarks" / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_instance_noise_keeps_the_gradient_a_perfect_discriminator_takes_away(tmp_path):
    # 8 points of std 1e-4 (a 0-dim support) against G's 1-dim curve (z_dim 1), G fixed at
    # initialisation (its samples ~1 from the data): D alone, from scratch, 2,000 steps
    claims = claims_script()
    sets = tiny_sets(tmp_path, **{"train.eval_every": 0}) + claims.VANISHING
    g_state = claims.fixed_generator(sets, 0)
    points = [0, 10, 30, 100, 300, 1000, 2000]
    clean, noisy = (claims.train_d_alone(sets, g_state, sigma, points) for sigma in (0.0, 0.5))
    assert clean[-1]["acc"] == 1.0 and clean[-1]["d_fake"] < 1e-3  # D perfect, saturated
    assert noisy[-1]["acc"] < 0.9 and noisy[-1]["d_fake"] > 0.1  # the noisy inputs overlap
    top_clean, _, fall_clean = claims.fall(clean)
    top_noisy, _, fall_noisy = claims.fall(noisy)
    assert 0.2 < top_noisy / top_clean < 5  # while D learns, the two gradients are alike
    assert fall_clean > 100, clean  # then the minimax gradient vanishes (seed 0: ~550x)...
    assert fall_noisy < 10, noisy  # ... and with noise it stays (seed 0: ~2.3x)
    assert noisy[-1]["g_minimax"] > 30 * clean[-1]["g_minimax"]
    assert clean[-1]["dx_D"] < 1e-2 * max(r["dx_D"] for r in clean)  # D's slope at G(z)


def real_points(t, n):
    """The first ``n`` points of the trainer's real minibatches (drawn before training)."""
    return torch.cat([t.real_batch() for _ in range(-(-n // t.cfg.data.batch_size))])[:n]


def exact_w1(real, fake):
    """W1 between two point sets of equal size with equal weights: an assignment
    (Hungarian method) over the Euclidean cost."""
    cost = torch.cdist(real.double(), fake.double()).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def em_estimates_and_w1(sets, steps=300, every=20, refit=100, n=512):
    """Train ``wgan_toy`` on the ring with ``sets``; every ``every`` G steps, on ``n``
    real and ``n`` generated points: the running critic's estimate E D(x) - E D(G(z)),
    the estimate of a copy of it trained ``refit`` more steps against the current G,
    and the exact W1 between the points. The run goes on from the running critic."""
    t = Trainer(load_config("wgan_toy", sets=sets))
    real = real_points(t, n)

    def estimate(fake):
        with torch.no_grad():
            return float(t.d_view(real)[0].mean() - t.d_view(fake)[0].mean())

    running, refitted, w1 = [], [], []
    while t.step < steps:
        t.train_step()
        if t.step % every == 0:
            fake = t.generate(n, seed=1)
            running.append(estimate(fake))
            saved = copy.deepcopy((t.D.state_dict(), t.d_opt.state_dict()))
            for _ in range(refit):
                t.d_step()  # RMSProp on the critic with its clipping, G fixed
            refitted.append(estimate(fake))
            t.D.load_state_dict(saved[0])
            t.d_opt.load_state_dict(saved[1])
            w1.append(exact_w1(real, fake))
    return running, refitted, w1


def test_a_critic_trained_towards_optimality_tracks_the_earth_mover_distance(tmp_path):
    # the toy preset's critic (clip 0.1, 128 wide) at one critic step per G step, RMSProp
    # 2e-4: G's samples move to and from the data, and W1 with them (seed 0: 0.63-1.29)
    sets = [f"out_dir='{tmp_path}'", "train.tensorboard=false", "seed=0", "data.name='ring'",
            "data.batch_size=256", "g_optim.lr=2e-4", "d_optim.lr=2e-4", "train.d_steps=1",
            "objective.schedule='constant'"]
    running, refitted, w1 = em_estimates_and_w1(sets)
    assert max(w1) > 1.2 * min(w1), w1  # the distance moves over the run
    # 100 more critic steps against each G: the estimate follows W1 (seeds 0-2: 0.83-0.93)
    assert spearmanr(refitted, w1).statistic > 0.7, (refitted, w1)
    # the critic one step behind G does not (seeds 0-2: -0.36 to -0.44)
    assert spearmanr(running, w1).statistic < 0.2, (running, w1)


def m_global_and_w1(sets, steps, every, n=512):
    """Train ``began_toy`` on the ring with ``sets``; every ``every`` G steps, the mean
    M_global of the steps since the last point and the exact W1 between ``n`` real
    points and ``n`` of G's."""
    t = Trainer(load_config("began_toy", sets=sets))
    real = real_points(t, n)
    m_global, w1, window = [], [], []
    while t.step < steps:
        window.append(float(t.train_step()["M_global"]))
        if t.step % every == 0:
            w1.append(exact_w1(real, t.generate(n, seed=1)))
            m_global.append(sum(window) / len(window))
            window = []
    return m_global, w1


def test_began_m_global_falls_as_the_samples_near_the_data(tmp_path):
    # Berthelot et al. (2017), Sec. 3.4.1: M_global = L(x) + |gamma L(x) - L(G(z))| as a
    # measure of convergence. The toy preset (k_t held >= 0.6): G's samples near the
    # ring and M_global falls with W1 (seeds 0-2: Spearman 0.78-0.84)
    sets = [f"out_dir='{tmp_path}'", "train.tensorboard=false", "seed=0", "data.name='ring'"]
    m_global, w1 = m_global_and_w1(sets, 600, 40)
    assert w1[-1] < 0.5 * w1[0], w1
    assert m_global[-1] < 0.5 * max(m_global), m_global
    assert spearmanr(m_global, w1).statistic > 0.6, (m_global, w1)
    # its limit: with the paper's control alone k_t falls, D stops weighing the samples
    # and the game settles with G no nearer the data; M_global falls all the same
    # (seeds 0-2: 0.46-0.48 -> 0.13-0.14 while W1 rises 0.95-0.99 -> 1.07-1.11)
    m_global, w1 = m_global_and_w1(sets + ["objective.k_min=0"], 300, 20)
    assert m_global[-1] < 0.5 * m_global[0] and w1[-1] > 0.95 * w1[0], (m_global, w1)
