from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agriseg.crop.labels import PEANUT_VEGETATION, read_label
from agriseg.data.io import ImageReadError, list_images, read_rgb


@pytest.mark.parametrize(
    ("mode", "arr"),
    [
        ("RGBA", np.full((5, 6, 4), 200, np.uint8)),
        ("L", np.full((5, 6), 90, np.uint8)),
        ("I;16", np.full((5, 6), 65535, np.uint16)),
    ],
)
def test_read_rgb_normalises_modes(tmp_path, mode, arr):
    p = tmp_path / "x.png"
    Image.fromarray(arr).save(p)
    out = read_rgb(p)
    assert out.shape == (5, 6, 3) and out.dtype == np.uint8
    assert out.max() > 0


def test_read_rgb_16bit_scaled(tmp_path):
    p = tmp_path / "x.tif"
    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(p)
    assert 125 <= read_rgb(p)[0, 0, 0] <= 130


def test_truncated_and_missing_files_name_the_file(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(good)
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_rgb(bad)
    with pytest.raises(ImageReadError, match="nope.png: file not found"):
        read_rgb(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageReadError, match="text.png"):
        read_rgb(tmp_path / "text.png")


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        list_images([tmp_path / "missing"])
    with pytest.raises(ValueError, match="folder has no images"):
        list_images([tmp_path])
    (tmp_path / "images").mkdir()  # a data set's root given instead of its images folder
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"no images \(.*\); its subfolder images/ \(1\) has images: name that"):
        list_images([tmp_path])
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"its subfolders images/ \(1\), labels/ \(1\) have images: name one"):
        list_images([tmp_path])


def test_labels_colormap_binary_index(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (0, 255, 0)
    rgb[0, 1] = (255, 0, 0)
    rgb[1, 2] = (12, 34, 56)  # unlisted colour -> ignore
    p = tmp_path / "l.png"
    Image.fromarray(rgb).save(p)
    out = read_label(p, "colormap", PEANUT_VEGETATION)
    assert out.tolist() == [[1, 1, 0], [0, 0, 255]]
    assert read_label(p, "binary").tolist() == [[1, 1, 0], [0, 0, 1]]
    q = tmp_path / "i.png"
    Image.fromarray(np.array([[0, 2, 255]], np.uint8)).save(q)
    assert read_label(q, "index").tolist() == [[0, 2, 255]]


def test_a_one_pixel_image_is_too_small_in_words(tmp_path):
    Image.fromarray(np.zeros((1, 5, 3), np.uint8)).save(tmp_path / "thin.png")
    with pytest.raises(ImageReadError, match=r"thin.png: the image is 5x1 px, too small to segment \(at least 2x2\)"):
        read_rgb(tmp_path / "thin.png")


def test_pil_warnings_about_one_photo_stay_off_the_terminal(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo over PIL's warning size is read without PIL's two-line ``DecompressionBombWarning`` (agriseg has
    its own limit); one over twice that fails as a one-line ``ImageReadError``, and the up-front memory check of
    ``crop predict`` passes it by (it fails as its own item) instead of stopping the batch."""
    import warnings

    from agriseg.crop.predict import check_photo_memory

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # warn above 50 px, refuse above 100
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "warned.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "bomb.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that reaches the caller fails the test
        assert read_rgb(tmp_path / "warned.png").shape == (8, 8, 3)
    with pytest.raises(ImageReadError, match="bomb.png: image is too large"):
        read_rgb(tmp_path / "bomb.png")
    check_photo_memory([tmp_path / "bomb.png", tmp_path / "warned.png"], 800, 2, "--long-side")


def test_folders_list_gifs_and_keep_broken_links_to_fail_by_name(tmp_path):
    """A GIF is a photo like any other; a link to a missing file is listed, so its item fails naming the link."""
    import os

    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).convert("P").save(tmp_path / "a.gif")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "b.png")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "c.jpg")
    assert [p.name for p in list_images([tmp_path])] == ["a.gif", "b.png", "c.jpg"]
    assert read_rgb(tmp_path / "a.gif").shape == (8, 8, 3)
    with pytest.raises(ImageReadError, match=r"c\.jpg: a link to .*gone\.jpg, which is missing$"):
        read_rgb(tmp_path / "c.jpg")


def test_one_folder_given_as_a_str_is_one_path_not_its_characters(tmp_path):
    """predict_paths('photos', ...) listed '/' (the first character) and refused it."""
    from agriseg.crop.config import CropPredictConfig
    from agriseg.crop.predict import predict_paths
    from agriseg.data.io import list_images_once

    (tmp_path / "photos").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photos" / "a.png")
    assert list_images(str(tmp_path / "photos")) == [tmp_path / "photos" / "a.png"]
    assert list_images_once(tmp_path / "photos") == [tmp_path / "photos" / "a.png"]
    with pytest.raises(FileNotFoundError, match="nowhere"):  # the whole name, not its first character
        predict_paths(str(tmp_path / "nowhere"), tmp_path / "out", CropPredictConfig())


def test_links_in_a_loop_pipes_and_macos_resource_files_are_no_photos(tmp_path, caplog):
    """A link loop named x.jpg gave a traceback, a FIFO 'no such file', and macOS's ._x.jpg failed as a photo."""
    import os

    from agriseg.data.io import NoInputError

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg")
    (tmp_path / "._a.jpg").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble header
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "gone.jpg").symlink_to("missing.jpg")  # a broken link stays in: its item fails naming it
    with caplog.at_level("WARNING", logger="agriseg"):
        assert list_images(tmp_path) == [tmp_path / "a.jpg", tmp_path / "gone.jpg"]
    assert "loop.jpg, a link in a loop" in caplog.text
    with pytest.raises(NoInputError, match="loop.jpg: a link in a loop"):
        list_images([tmp_path / "loop.jpg"])
    os.mkfifo(tmp_path / "pipe.jpg")
    with pytest.raises(NoInputError, match="pipe.jpg: not a regular file"):
        list_images([tmp_path / "pipe.jpg"])


def test_output_names_never_differ_in_case_only_and_a_folder_is_added_only_where_it_helps(tmp_path):
    """x/Plot1.jpg and y/plot1.jpg got Plot1_mask.png and plot1_mask.png (one file on macOS and Windows disks:
    the second replaced the first); a.jpg and a.JPG of one folder got the absolute folder path in their names."""
    from agriseg.data.io import output_names

    for n in ("x/Plot1.jpg", "y/plot1.jpg", "p/a.jpg", "p/a.JPG"):
        (tmp_path / n).parent.mkdir(exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    names = output_names([tmp_path / "x/Plot1.jpg", tmp_path / "y/plot1.jpg"])
    assert len({n.casefold() for n in names.values()}) == 2
    assert output_names([tmp_path / "p/a.JPG", tmp_path / "p/a.jpg"]) == {
        tmp_path / "p/a.JPG": "a_jpg",
        tmp_path / "p/a.jpg": "a_jpg_2",
    }


def test_output_names_keep_names_given_before_and_name_the_others_around_them(tmp_path):
    """A file with a name from an earlier run keeps it; the others are named as a first run names them unless
    that name is taken, then grown (suffix, folders) or numbered; a name given to two files is kept by neither."""
    from agriseg.data.io import output_names

    d1, d2, d3 = (tmp_path / d / "IMG_1.jpg" for d in ("d1", "d2", "d3"))
    for f in (d1, d2, d3):
        f.parent.mkdir()
        f.write_bytes(b"")
    assert output_names([d1, d2]) == {d1: "d1_IMG_1_jpg", d2: "d2_IMG_1_jpg"}
    assert output_names([d1, d2], {d1.resolve(): "IMG_1"}) == {d1: "IMG_1", d2: "d2_IMG_1_jpg"}
    assert output_names([d1, d2], {d1.resolve(): "d2_IMG_1_jpg"})[d2] not in ("d2_IMG_1_jpg", "D2_img_1_JPG")
    taken = output_names([d1, d2, d3], {d1.resolve(): "x", d2.resolve(): "x"})  # two claims of one name: both new
    assert taken == output_names([d1, d2, d3])
    assert output_names([d2], {d1.resolve(): "IMG_1"}) == {d2: "IMG_1"}  # a name of a file not given is free


def test_output_names_of_one_letter_in_two_unicode_forms_differ(tmp_path):
    """a/café.jpg ("é" one character) and b/café.jpg ("e" and an accent, as macOS writes names) got names that
    differ here and are one file on a Mac: one mask replaced the other."""
    import unicodedata

    from agriseg.data.io import name_key, output_names

    nfc, nfd = (unicodedata.normalize(form, "café.jpg") for form in ("NFC", "NFD"))
    assert nfc != nfd
    for n in (f"a/{nfc}", f"b/{nfd}"):
        (tmp_path / n).parent.mkdir(exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    names = output_names([tmp_path / "a" / nfc, tmp_path / "b" / nfd])
    assert len({name_key(n) for n in names.values()}) == 2, names


def test_an_empty_file_and_a_file_or_folder_without_permission_say_so(tmp_path, monkeypatch):
    """A 0-byte photo said 'not a readable image'; an unreadable one 'unreadable or truncated image ([Errno 13]
    ...)'; an unreadable folder was a raw 'Permission denied' with exit 1 instead of a usage error."""
    from pathlib import Path

    import PIL.Image

    from agriseg.data.io import NoInputError

    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.jpg: empty file \(0 bytes\)"):
        read_rgb(tmp_path / "empty.jpg")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "a.jpg"))

    monkeypatch.setattr(PIL.Image, "open", denied)
    with pytest.raises(ImageReadError, match=r"a.jpg: cannot read it: permission denied$"):
        read_rgb(tmp_path / "a.jpg")
    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(NoInputError, match="cannot read the folder: permission denied"):
        list_images(tmp_path)


def test_opencv_reads_and_writes_a_file_name_of_another_encoding(tmp_path):
    """cv2.imwrite crashed the process (segfault, exit 139) on a path holding a Latin-1 name: crop pseudolabel
    and adapt died with no message, losing every photo of the batch."""
    import os

    pytest.importorskip("cv2")
    from agriseg.data.io import cv_read, cv_write

    path = tmp_path / os.fsdecode(b"caf\xe9.png")
    try:
        path.write_bytes(b"")
    except (OSError, UnicodeError):
        pytest.skip("this file system takes UTF-8 names only")
    arr = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    cv_write(path, arr)
    assert np.array_equal(cv_read(path, -1), arr)
    (tmp_path / "empty.png").write_bytes(b"")
    assert cv_read(tmp_path / "empty.png", -1) is None


def test_a_link_to_a_photo_of_the_same_folder_is_not_given_twice(tmp_path):
    """A folder holding latest.jpg -> a.jpg was refused as 'folder: given twice' (a regression when crop predict
    started to refuse photos named twice); a file named again beside its folder still is."""
    from agriseg.config import OptionError
    from agriseg.data.io import list_images_once

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg")
    (tmp_path / "latest.jpg").symlink_to("a.jpg")
    assert list_images_once([tmp_path]) == [tmp_path / "a.jpg", tmp_path / "latest.jpg"]
    with pytest.raises(OptionError, match="given twice"):
        list_images_once([tmp_path, tmp_path / "a.jpg"])


def test_an_empty_array_a_folder_or_no_paths_are_said_plainly(tmp_path: Path) -> None:
    """A notebook sweep: an empty array died in a ZeroDivisionError, a folder was 'file not found', and no
    paths at all made the output folder, then blamed it for holding 'only outputs of an earlier run'."""
    from agriseg.crop.predict import predict_paths
    from agriseg.crop.traits.runner import run_traits
    from agriseg.data.io import NoInputError, as_rgb, read_rgb

    for shape in ((0, 0, 3), (0, 10, 3), (5, 0)):
        with pytest.raises(ValueError, match="the photo is empty"):
            as_rgb(np.zeros(shape, np.uint8))
    with pytest.raises(ImageReadError, match="a folder, not an image file"):
        read_rgb(tmp_path)
    with pytest.raises(NoInputError, match="no photos given"):
        predict_paths([], tmp_path / "p")
    with pytest.raises(NoInputError, match="no photos given"):
        run_traits([], tmp_path / "t")
    assert not (tmp_path / "p").exists() and not (tmp_path / "t").exists()
    with pytest.raises(ValueError, match="long_side"):  # a dict config is validated like the class
        predict_paths([tmp_path], tmp_path / "p", {"long_side": -3})


def test_a_killed_runs_temporary_among_the_photos_is_no_photo(tmp_path: Path) -> None:
    """A SIGKILL while writing into the photos' folder left `.p1_mask.png.agriseg-tmp-7654.png`: the next run
    listed it as a photo, removed it as stale, then failed it as 'file not found'."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "p1.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / ".p1_mask.png.agriseg-tmp-7654.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / ".hidden.png")  # a user's hidden photo stays
    assert [p.name for p in list_images(tmp_path)] == [".hidden.png", "p1.png"]


def test_float_tiles_of_one_mosaic_read_alike() -> None:
    """Float tiles were stretched by their own minimum and maximum: reflectance 0.05 / 0.20 read 13 / 51 on one
    tile and 0 / 26 on a tile with one 1.5 spike; stored as 0-10000 floats, 0 / 255."""
    from agriseg.data.io import scale_to_uint8

    plain = np.array([[0.05, 0.20]], np.float32)
    spiked = np.array([[0.05, 0.20, 1.5]], np.float32)
    assert scale_to_uint8(plain, "a.tif").tolist() == [[13, 51]]
    assert scale_to_uint8(spiked, "b.tif").tolist() == [[13, 51, 255]]  # a little over 1: clipped
    assert scale_to_uint8(np.array([[-0.01, 0.2]], np.float32), "c.tif").tolist() == [[0, 51]]
    assert scale_to_uint8(np.array([[500.0, 2000.0]], np.float32), "d.tif").tolist() == [[2, 8]]  # as 16-bit
    assert scale_to_uint8(np.array([[10.0, 200.0]], np.float32), "e.tif").tolist() == [[10, 200]]  # 0-255


def test_a_transparent_pixel_is_read_as_black_everywhere(tmp_path: Path) -> None:
    """A cut-out plant (or an orthomosaic's outside) kept its colour under alpha 0 and was segmented: a PNG
    whose transparent half held the original field gave that half's plants (sweep of session 71)."""
    from agriseg.crop.pseudolabel.pipeline import read_rgb_for_index
    from agriseg.data.io import as_rgb

    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = (40, 160, 30)  # green everywhere under the alpha
    rgba[:, 4:, 3] = 255  # the right half shown, the left half transparent
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    Image.fromarray(rgba[..., [0, 3]]).save(tmp_path / "grey_alpha.png")  # LA
    for arr in (read_rgb(tmp_path / "cut.png"), as_rgb(rgba), as_rgb(Image.fromarray(rgba)),
                read_rgb_for_index(tmp_path / "cut.png", 0)[0], read_rgb(tmp_path / "grey_alpha.png")):  # fmt: skip
        assert arr.shape == (6, 8, 3) and not arr[:, :4].any() and arr[:, 4:].all(), arr[..., 1]
    opaque = rgba.copy()
    opaque[..., 3] = 1  # nearly transparent is still shown
    assert as_rgb(opaque).all()


@pytest.mark.parametrize("planar", [False, True])
def test_a_colour_tiff_of_floats_is_read_by_its_range(tmp_path: Path, planar: bool) -> None:
    """An RGB float32 TIFF (0-1 or 0-255) failed: "not a readable image as a photo: it is a 3-band float32
    raster" (PIL cannot open it), though floats are read by their range (sweep of session 71)."""
    import tifffile

    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    for name, scale in (("unit.tif", 1 / 255), ("bytes.tif", 1.0)):
        floats = rgb.astype(np.float32) * scale
        tifffile.imwrite(tmp_path / name, np.moveaxis(floats, -1, 0) if planar else floats,
                         photometric="rgb", planarconfig="separate" if planar else "contig")  # fmt: skip
        assert np.array_equal(read_rgb(tmp_path / name), rgb), name
    tifffile.imwrite(tmp_path / "nan.tif", np.full((4, 4, 3), np.nan, np.float32), photometric="rgb")
    with pytest.raises(ImageReadError, match="nan.tif: every pixel is nodata"):  # GDAL reads NaN as nodata
        read_rgb(tmp_path / "nan.tif")
    tifffile.imwrite(tmp_path / "eight.tif", np.ones((4, 4, 8), np.float32), planarconfig="contig")
    with pytest.raises(ImageReadError, match="eight.tif: not a readable image as a photo: it is an 8-band"):
        read_rgb(tmp_path / "eight.tif")


def test_phone_and_raw_photos_in_a_folder_are_said_to_be_left_out(tmp_path: Path, caplog) -> None:
    """A folder of an iPhone's HEICs beside JPEGs lost its HEICs without a word (session 71's sweep)."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "IMG_3.JPG")
    for name in ("IMG_1.HEIC", "IMG_2.heic", "raw.DNG", "IMG_3.CR2"):  # IMG_3.CR2: a RAW + JPEG pair, its JPEG read
        (tmp_path / name).write_bytes(b"\x00" * 16)
    with caplog.at_level("WARNING", logger="agriseg"):
        assert list_images(tmp_path) == [tmp_path / "IMG_3.JPG", tmp_path / "a.jpg"]
    assert "left out 3 files (.dng, .heic) that agriseg cannot read: convert them to JPEG" in caplog.text


def test_an_animation_says_only_its_first_frame_is_read(tmp_path: Path, caplog) -> None:
    """An animated GIF was read as its first frame without a word, where a multi-page TIFF said so (session 86's
    sweep); a still GIF says nothing."""
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.gif")
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "anim.gif")
        read_rgb(tmp_path / "still.gif")
    assert (
        "anim.gif: an animation of 2 frames; only the first is read" in caplog.text and "still.gif" not in caplog.text
    )


def test_a_multi_page_tiff_says_only_its_first_page_is_read(tmp_path: Path, caplog) -> None:
    """A band-per-page TIFF was segmented as a grey photo of its first page, and a stack as its first photo,
    without a word (session 71's sweep)."""
    import tifffile

    pages = np.random.default_rng(0).integers(0, 256, (4, 6, 8)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "pages.tif", pages, photometric="minisblack")
    with caplog.at_level("WARNING", logger="agriseg"):
        arr = read_rgb(tmp_path / "pages.tif")
    assert arr.shape == (6, 8, 3) and np.array_equal(arr[..., 0], pages[0])
    assert "pages.tif: a TIFF of 4 pages; only the first is read" in caplog.text
    caplog.clear()
    tifffile.imwrite(tmp_path / "many.tif", np.zeros((100, 6, 8), np.uint8), photometric="minisblack")
    with caplog.at_level("WARNING", logger="agriseg"):  # 100 pages were said to be 64 (session 103's sweep)
        read_rgb(tmp_path / "many.tif")
    assert "many.tif: a TIFF of 64 or more pages; only the first is read" in caplog.text
    caplog.clear()
    with tifffile.TiffWriter(tmp_path / "overviews.tif") as tif:  # a photo and its reduced copy (an overview)
        tif.write(np.zeros((8, 8, 3), np.uint8), photometric="rgb")
        tif.write(np.zeros((4, 4, 3), np.uint8), photometric="rgb", subfiletype=1)
    with caplog.at_level("WARNING", logger="agriseg"):
        read_rgb(tmp_path / "overviews.tif")
    assert not caplog.text


def test_a_missing_photo_is_a_file_not_found_error_too(tmp_path) -> None:
    """`except FileNotFoundError` missed a missing photo (an ImageReadError, a ValueError only), where every
    other missing input is one (session 72's sweep)."""
    import pytest

    from agriseg.data.io import ImageReadError, as_rgb

    for exc in (FileNotFoundError, ImageReadError):
        with pytest.raises(exc, match=r"nope\.jpg: file not found"):
            as_rgb(tmp_path / "nope.jpg")


def test_a_pil_image_is_turned_upright_like_its_file(tmp_path) -> None:
    """Image.open(path) and path gave masks turned against each other (EXIF orientation applied to the path
    only; session 72's sweep)."""
    import numpy as np
    from PIL import Image

    from agriseg.data.io import as_rgb

    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # turned 90 degrees
    im.save(tmp_path / "turned.jpg", exif=exif)
    with Image.open(tmp_path / "turned.jpg") as opened:
        assert np.array_equal(as_rgb(opened), as_rgb(tmp_path / "turned.jpg")) and as_rgb(opened).shape == (40, 30, 3)


def test_a_folder_with_photos_and_subfolders_of_photos_says_the_subfolders_are_not_read(tmp_path, caplog):
    """``top.jpg`` beside ``day1/`` and ``day2/``: one photo was read and the other two passed over without a word
    (session 83's sweep); a subfolder agriseg writes (it holds a manifest) is not named."""
    from agriseg.data.io import list_images
    from agriseg.manifest import MANIFEST

    for sub in ("day1", "day2", "out", "overlays", "plots"):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / sub / "a.jpg")
    # overlays/: files out/'s manifest records (crop pseudolabel's overlays beside its masks, session 105's sweep)
    stamps = '{"a.png": [1], "../overlays/a.jpg": [1], "..\\\\plots\\\\a.jpg": [1]}'  # (plots/: as Windows writes it)
    (tmp_path / "out" / MANIFEST).write_text('{"item": "a", "stamps": ' + stamps + "}\n")
    Image.new("RGB", (4, 4)).save(tmp_path / "top.jpg")
    with caplog.at_level("WARNING"):
        assert list_images(tmp_path) == [tmp_path / "top.jpg"]
        list_images(tmp_path)  # said once
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"{tmp_path}: its subfolders day1/ (1), day2/ (1) have images too, not read (folders are read "
                    "without their subfolders; name them)"]  # fmt: skip
    for sub in ("day3", "day4", "day5"):  # past three, counted (day4/, day5/ and agriseg's went unsaid)
        (tmp_path / sub).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / sub / "a.jpg")
    (tmp_path / "top.jpg").unlink()
    with pytest.raises(ValueError, match=r"day1/ \(1\), day2/ \(1\), day3/ \(1\) and 5 more have images: name one"):
        list_images(tmp_path)


def test_a_generator_of_paths_is_read_once(tmp_path) -> None:
    """Session 85's API sweep: `predict_paths(folder.glob("*.jpg"), out)` was an IndexError: the generator was
    used up by the check that any path was given."""
    from PIL import Image

    from agriseg.data.io import list_images_once

    for n in ("a", "b"):
        Image.new("RGB", (4, 4)).save(tmp_path / f"{n}.png")
    assert [p.name for p in list_images_once(tmp_path.glob("*.png"))] == ["a.png", "b.png"]


def test_premultiplied_alpha_modes_are_read() -> None:
    """Session 85's API sweep: a PIL image in mode "La" failed ("conversion from La to L not supported")."""
    from PIL import Image

    from agriseg.data.io import as_rgb

    for mode in ("La", "RGBa"):
        assert as_rgb(Image.new(mode, (4, 3))).shape == (3, 4, 3)


def test_geotiffs_pil_cannot_open_are_read_through_gdal(tmp_path: Path) -> None:
    """Session 88's sweep: orthomosaics `crop plots` reads (rasterio) were refused by every other crop command:
    16-bit RGB that GDAL writes as MINISBLACK, LZW floats (tifffile without imagecodecs), NaN nodata."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    prof = {"driver": "GTiff", "height": 20, "width": 30, "crs": "EPSG:32633", "transform": from_origin(100, 100, 1, 1)}
    sixteen = (rng.random((3, 20, 30)) * 65535).astype(np.uint16)
    floats = rng.random((3, 20, 30)).astype(np.float32)
    holed = floats.copy()
    holed[:, :5] = np.nan
    cases = {
        "minisblack16.tif": ({"dtype": "uint16"}, sixteen, np.round(sixteen * (255 / 65535))),
        "lzw_float.tif": ({"dtype": "float32", "compress": "lzw"}, floats, np.round(floats * 255)),
        "nan_nodata.tif": ({"dtype": "float32", "nodata": float("nan")}, holed, np.round(np.nan_to_num(holed) * 255)),
    }
    for name, (opts, data, want) in cases.items():
        with rasterio.open(tmp_path / name, "w", count=3, **prof, **opts) as dst:
            dst.write(data)
        got = read_rgb(tmp_path / name)
        assert got.shape == (20, 30, 3) and got.dtype == np.uint8
        assert np.abs(got.astype(int) - np.moveaxis(want, 0, -1)).max() <= 1, name
    assert (read_rgb(tmp_path / "nan_nodata.tif")[:5] == 0).all()  # no data is black: no plant
    with rasterio.open(tmp_path / "eight.tif", "w", count=8, dtype="uint16", **prof) as dst:
        dst.write(np.zeros((8, 20, 30), np.uint16))
    with pytest.raises(ImageReadError, match="8-band uint16 raster, not an RGB photo"):
        read_rgb(tmp_path / "eight.tif")  # a multispectral scene is still no photo


def test_a_float_photo_with_nan_says_so():
    """Session 90's API sweep: a float photo with one NaN "spans [nan, nan]"."""
    from agriseg.data.io import as_rgb

    photo = np.zeros((4, 4, 3), np.float32)
    photo[0, 0, 0], photo[1, 1, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match="a float photo holds 2 NaN or infinite values: fill them first"):
        as_rgb(photo)


def test_sentinel2_reflectance_read_as_16_bit_colour_is_warned_to_read_dark(caplog: pytest.LogCaptureFixture) -> None:
    """A Sentinel-2 L2A tile (uint16, reflectance x 10000: values up to 5,428 over fields) read at 1-8 % brightness
    without a word (the warning fired only when every value was <= 4095; session 93's sweep of ``text predict``)."""
    import logging

    from agriseg.data.io import scale_to_uint8

    rng = np.random.default_rng(0)
    tile = rng.integers(200, 2500, (100, 100, 3)).astype(np.uint16)
    tile[0, :5] = 9000  # a few bright pixels (a roof, a cloud's edge) lift the maximum over 4095
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        assert scale_to_uint8(tile, "s2.tif").max() <= 36  # still read by the bit depth: never stretched
    assert "s2.tif: 16-bit image whose values are nearly all <=" in caplog.text and "reads dark" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        scale_to_uint8(tile.astype(np.float32), "s2f.tif")
        scale_to_uint8(
            (tile.astype(np.uint32) * 20).clip(0, 65535).astype(np.uint16), "bright.tif"
        )  # a real 16-bit photo
    assert "s2f.tif: float image whose values are nearly all <=" in caplog.text and "bright.tif" not in caplog.text


def test_a_dark_image_is_warned_of_once_per_file(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """A training loader reads each photo every epoch: its dark warning came once per photo per epoch. A file
    changed since is said again, as are pixels of no file."""
    import logging

    from agriseg.data.io import scale_to_uint8

    tile = np.full((20, 20, 3), 900, np.uint16)
    once, other = tmp_path / "once.tif", tmp_path / "other.tif"
    once.write_bytes(b"a")
    other.write_bytes(b"b")
    with caplog.at_level(logging.WARNING, logger="agriseg"):
        for path in (once, once, other, "nofile.tif", "nofile.tif"):
            scale_to_uint8(tile, path)
        once.write_bytes(b"changed")
        scale_to_uint8(tile, once)
    assert caplog.text.count("once.tif: 16-bit image") == 2 and caplog.text.count("other.tif: 16-bit image") == 1
    assert caplog.text.count("nofile.tif: 16-bit image") == 2


def test_a_heic_photo_and_a_cut_webp_are_said_as_such(tmp_path: Path) -> None:
    """A HEIC photo saved as .jpg was "not a readable image", and a cut WebP said Pillow's "could not create
    decoder object" (session 101's sweep)."""
    import io as _io

    from agriseg.data.io import open_image

    (tmp_path / "iphone.jpg").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(2000))
    with pytest.raises(ImageReadError, match=r"iphone\.jpg: not a readable image: a HEIC / HEIF photo"):
        open_image(tmp_path / "iphone.jpg")
    buf = _io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 40)).save(buf, "WEBP")
    (tmp_path / "cut.webp").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.webp: unreadable or truncated image \(its pixels cannot be"):
        open_image(tmp_path / "cut.webp")


def test_a_16bit_colour_tiff_compressed_with_lzw_is_read(tmp_path, monkeypatch):
    """Session 106's sweep: a 16-bit RGB TIFF as OpenCV writes it (LZW) failed in tifffile without imagecodecs,
    "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package", naming no file, and stopped crop predict's batch.
    OpenCV or GDAL decode it; with neither, one line names the file."""
    cv2 = pytest.importorskip("cv2")
    import agriseg.data.io as io
    from agriseg.batch import Item, describe_error

    rgb = (np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3) * 7 % 65536).astype(np.uint16)
    p = tmp_path / "rgb16.tif"
    assert cv2.imwrite(str(p), rgb[..., ::-1])  # BGR, LZW by default
    want = read_rgb(p)
    assert want.shape == (48, 64, 3) and np.abs(want.astype(int) - rgb / 257).max() <= 1
    rasterio = pytest.importorskip("rasterio")
    for interleave in ("pixel", "band"):  # planes stored apart, LZW: OpenCV read stripes (session 106's review)
        q = tmp_path / f"{interleave}.tif"
        with rasterio.open(q, "w", driver="GTiff", width=64, height=48, count=3, dtype="uint16", photometric="RGB",
                           compress="lzw", interleave=interleave, crs="EPSG:32633",
                           transform=rasterio.transform.from_origin(500000, 5300000, 1, 1)) as dst:  # fmt: skip
            dst.write(np.moveaxis(rgb, -1, 0))
        assert np.abs(read_rgb(q).astype(int) - rgb / 257).max() <= 1, interleave
    monkeypatch.setattr(io, "_cv_colour", lambda path: None)  # no OpenCV
    monkeypatch.setattr(io, "_gdal_rgb", lambda path: None)  # no GDAL
    try:
        import imagecodecs  # noqa: F401  # tifffile reads LZW itself: nothing to refuse
    except ImportError:
        again = tmp_path / "again.tif"
        again.write_bytes(p.read_bytes())
        with pytest.raises(ImageReadError, match=r"again.tif: a 16-bit colour TIFF this install cannot decode"):
            read_rgb(again)
    # an error of a library that names no file: the item's file named first (".LZW" was taken for a file's suffix)
    said = describe_error(Item("rgb16", p, ()), ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"))
    assert said.startswith(f"{p}: <COMPRESSION.LZW: 5>"), said


def test_a_float_geotiffs_declared_nodata_is_no_colour(tmp_path, caplog):
    """Session 106's sweep: a float32 0-1 GeoTIFF with nodata -9999 declared was read by tifffile as colours,
    warned of as "values down to -1e+04, below 0, read as 0 (black): scale it to 0-1 first"."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    arr = np.full((3, 20, 30), 0.5, np.float32)
    arr[:, :, :5] = -9999  # the mosaic's edge
    p = tmp_path / "f.tif"
    with rasterio.open(p, "w", driver="GTiff", width=30, height=20, count=3, dtype="float32", nodata=-9999,
                       crs="EPSG:32633", transform=from_origin(500000, 5300000, 0.01, 0.01)) as dst:  # fmt: skip
        dst.write(arr)
    with caplog.at_level("WARNING", logger="agriseg"):
        rgb = read_rgb(p)
    assert "below 0" not in caplog.text, caplog.text
    assert (rgb[:, :5] == 0).all() and abs(int(rgb[0, 10, 0]) - 128) <= 1
