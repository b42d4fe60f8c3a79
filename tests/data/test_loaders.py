import cv2
import torch
from torch.utils.data import Dataset

from agriseg.data.loaders import train_loader


class _Threads(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor(cv2.getNumThreads())


def test_workers_use_one_opencv_thread():
    cv2.setNumThreads(4)  # what a many-core machine gives every process by default
    try:
        seen = torch.cat(list(train_loader(_Threads(), batch_size=2, num_workers=2)))
    finally:
        cv2.setNumThreads(-1)
    assert seen.tolist() == [1, 1, 1, 1]


def test_loader_order_is_seeded():
    class _Idx(Dataset):
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> int:
            return i

    a = torch.cat(list(train_loader(_Idx(), 2, 0, seed=3)))
    b = torch.cat(list(train_loader(_Idx(), 2, 0, seed=3)))
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(8))
