import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _quiet_and_seeded(monkeypatch):
    # Tests must not depend on each other's RNG use or on how many threads a machine has.
    torch.manual_seed(0)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
