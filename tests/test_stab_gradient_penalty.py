"""R1 / R2 zero-centred gradient penalties (Mescheder et al. 2018, eq. 9-10)."""
import pytest
import torch

from gankit.stabilizers.gradient_penalty import GradientPenalty
from stab_helpers import assert_resume_exact, cli_train


def make(**kw):
    return GradientPenalty(GradientPenalty.Options(**kw))


def quadratic_d(x):
    """D(x) = ||x||^2 / 2 + 3: grad_x D = x, so E||grad||^2 = E||x||^2."""
    return (0.5 * x.pow(2).sum(1, keepdim=True) + 3.0, x)


@pytest.mark.parametrize("on, expected", [("real", "real"), ("fake", "fake"),
                                          ("both", "both")])
def test_penalty_is_half_gamma_mean_squared_gradient_on_the_chosen_batch(on, expected):
    torch.manual_seed(0)
    real, fake = torch.randn(64, 2) + 2.0, torch.randn(64, 2) * 0.3
    msq = {"real": real.pow(2).sum(1).mean(), "fake": fake.pow(2).sum(1).mean()}
    want = {"real": msq["real"], "fake": msq["fake"], "both": msq["real"] + msq["fake"]}
    value = make(gamma=4.0, on=on).d_penalty(quadratic_d, real, fake)
    torch.testing.assert_close(value, 0.5 * 4.0 * want[expected], rtol=1e-6, atol=0)


def test_gradient_reaches_the_discriminator_weights():
    # D(x) = w . x: the penalty gamma/2 ||w||^2 has gradient gamma w in w.
    w = torch.tensor([0.5, -2.0], requires_grad=True)
    D = lambda x: ((x * w).sum(1, keepdim=True), x)  # noqa: E731
    value = make(gamma=3.0).d_penalty(D, torch.randn(16, 2), torch.randn(16, 2))
    assert value.item() == pytest.approx(1.5 * (0.25 + 4.0))
    (grad,) = torch.autograd.grad(value, w)
    torch.testing.assert_close(grad, 3.0 * w.detach())


def test_lazy_penalty_applies_every_nth_step_scaled_by_n():
    # StyleGAN2's lazy regularisation: due on D steps 0, 4, 8, ..., weight gamma * 4 there,
    # so the sum over any 4 consecutive steps equals the eager penalty's.
    torch.manual_seed(0)
    real, fake = torch.randn(32, 2) + 1.0, torch.randn(32, 2)
    eager = make(gamma=2.0).d_penalty(quadratic_d, real, fake)
    lazy = make(gamma=2.0, every=4)
    values = [lazy.d_penalty(quadratic_d, real, fake) for _ in range(9)]
    assert [i for i, v in enumerate(values) if v is not None] == [0, 4, 8]
    for i in (0, 4, 8):
        torch.testing.assert_close(values[i], 4.0 * eager, rtol=1e-6, atol=0)
    assert lazy.state_dict() == {"calls": 9}


def test_samples_estimates_the_penalty_on_the_first_rows_only():
    torch.manual_seed(0)
    real, fake = torch.randn(64, 2) + 2.0, torch.randn(64, 2)
    value = make(gamma=2.0, samples=16, on="both").d_penalty(quadratic_d, real, fake)
    want = real[:16].pow(2).sum(1).mean() + fake[:16].pow(2).sum(1).mean()
    torch.testing.assert_close(value, want, rtol=1e-6, atol=0)
    # more samples than the batch holds: the whole batch
    whole = make(gamma=2.0, samples=1000, on="both").d_penalty(quadratic_d, real, fake)
    torch.testing.assert_close(whole, make(gamma=2.0, on="both").d_penalty(quadratic_d, real,
                                                                          fake))


def test_lazy_schedule_resumes_exactly(tmp_path):
    # 6 steps, then resume: step 6 is not due (6 % 4 = 2), so a counter that restarted
    # at 0 would apply the penalty there and the runs would differ.
    full = assert_resume_exact(tmp_path, ["stabilizers=[{name='r1', gamma=1.0, every=4}]"])
    assert full["stabilizers"][0]["calls"] == 12


def test_logged_and_resumes_exactly(tmp_path):
    full = assert_resume_exact(tmp_path, ["stabilizers=[{name='r1', gamma=1.0}]"])
    assert full["step"] == 12


@pytest.mark.parametrize("extra, msg", [
    (["objective.name='wgan'", "discriminator.n_out=3"], "3 outputs"),
    (["stabilizers=[{name='r1', samples=30}]", "discriminator.pack=4"],
     "r1.samples = 30 is not a multiple of discriminator.pack = 4"),
])
def test_refused_where_there_is_no_single_logit(tmp_path, capsys, extra, msg):
    code = cli_train(tmp_path, 2, ["stabilizers=[{name='r1'}]"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and msg in err, err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_refused_on_began(tmp_path, capsys):
    code = cli_train(tmp_path, 2, ["stabilizers=[{name='r1'}]", "objective.name='began'",
                                   "discriminator.net='began'"])
    err = capsys.readouterr().err
    assert code == 2 and "r1: " in err and "autoencoder" in err, err


def test_interpolates_penalises_points_on_the_real_fake_segments():
    # Thanh-Tung et al. (2019), Sec. 5: x^ = eps x + (1 - eps) x~, eps ~ U[0, 1] per pair.
    # With the quadratic D, gamma/2 E||x^||^2 has the closed form
    # gamma/2 (||b||^2 + (a - b).b + ||a - b||^2 / 3) for x = a, x~ = b.
    seen = []

    def recording_d(x):
        seen.append(x.detach().clone())
        return quadratic_d(x)

    n = 200_000
    a, b = torch.tensor([3.0, -1.0]), torch.tensor([0.5, 2.0])
    real, fake = a.expand(n, 2).clone(), b.expand(n, 2).clone()
    torch.manual_seed(0)
    value = make(gamma=2.0, on="interpolates").d_penalty(recording_d, real, fake)
    closed = b.dot(b) + (a - b).dot(b) + (a - b).dot(a - b) / 3
    assert value.item() == pytest.approx(closed.item(), rel=5e-3)
    (x_hat,) = seen
    eps = (x_hat - b)[:, 0] / (a - b)[0]  # each point's place on its segment
    torch.testing.assert_close(x_hat, b + eps[:, None] * (a - b))
    assert 0 <= eps.min() < 0.01 and 0.99 < eps.max() <= 1
    assert abs(eps.mean().item() - 0.5) < 0.01
    # samples = k: the first k pairs only
    seen.clear()
    make(on="interpolates", samples=16).d_penalty(recording_d, real, fake)
    assert seen[0].shape == (16, 2)


def test_interpolates_trains_and_resumes_exactly(tmp_path):
    # the penalty draws eps from the global RNG, which the checkpoint restores
    assert_resume_exact(tmp_path, ["stabilizers=[{name='r1', on='interpolates'}]"])
