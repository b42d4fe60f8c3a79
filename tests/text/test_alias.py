import importlib
import warnings


def test_textmask_is_a_thin_alias_of_text() -> None:
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        old = importlib.import_module("agriseg.textmask.codec")
        pkg = importlib.import_module("agriseg.textmask")
    assert old is importlib.import_module("agriseg.text.codec")
    assert pkg.decode_rrle is importlib.import_module("agriseg.text").decode_rrle
