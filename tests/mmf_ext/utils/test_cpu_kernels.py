import torch

from mmf_ext.utils.cpu_kernels import describe_cpu_kernels


def test_the_kernel_line_names_torchs_level_and_the_pins_that_are_set(monkeypatch):
    for name in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"):
        monkeypatch.delenv(name, raising=False)
    level = torch.backends.cpu.get_cpu_capability()
    assert describe_cpu_kernels().startswith(f"CPU kernels: torch {level} (the widest this CPU has")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    assert describe_cpu_kernels() == f"CPU kernels: torch {level} (pinned by ONEDNN_MAX_CPU_ISA=AVX2, MKL_CBWR=AVX2)"
