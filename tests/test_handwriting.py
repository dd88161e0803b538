"""MNIST-style preparation of photos and drawings (scratchnet.data.handwriting)."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from scratchnet.data.handwriting import open_image, otsu_threshold, prepare_digit, prepare_digit_steps


def draw_two(size=(300, 400), ink=30, paper=230, width=18, origin=(80, 100), mode="L"):
    """A stylised "2" (bar, diagonal, bar) of known shape: 120 wide, 200 tall, plus the stroke width."""
    image = Image.new(mode, size, paper)
    x, y = origin
    ImageDraw.Draw(image).line([(x, y), (x + 120, y), (x, y + 200), (x + 120, y + 200)], fill=ink, width=width)
    return image


def centre_of_mass(digit):
    d = digit.astype(np.float64)
    return (d.sum(axis=1) @ np.arange(28)) / d.sum(), (d.sum(axis=0) @ np.arange(28)) / d.sum()


def box_size(digit):
    rows, cols = np.nonzero(digit)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def assert_mnist_like(digit):
    """uint8 28x28, centre of mass within a pixel of (14, 14), tall box of 20, dark border."""
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)
    row, col = centre_of_mass(digit)
    assert abs(row - 14) <= 0.6 and abs(col - 14) <= 0.6, (row, col)
    height, width = box_size(digit)
    assert 19 <= height <= 21 and 11 <= width <= 15, (height, width)  # 138 x 218 scaled to 20 tall
    assert digit.max() == 255
    assert digit[0].max() == digit[-1].max() == digit[:, 0].max() == digit[:, -1].max() == 0


def uneven_noisy(image, seed=0):
    """Lighting that fades from 45 % to 100 % left to right, plus Gaussian noise (σ = 12 levels)."""
    pixels = np.asarray(image, dtype=np.float32)
    light = 0.45 + 0.55 * np.linspace(0, 1, pixels.shape[1], dtype=np.float32)
    noisy = pixels * light + np.random.default_rng(seed).normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def test_dark_ink_on_light_paper_is_inverted_and_normalised():
    steps = prepare_digit_steps(draw_two())
    assert steps.inverted
    assert_mnist_like(steps.digit)


def test_light_ink_on_dark_is_not_inverted_and_gives_the_same_digit():
    steps = prepare_digit_steps(draw_two(ink=240, paper=10))
    assert not steps.inverted
    assert_mnist_like(steps.digit)
    np.testing.assert_allclose(steps.digit, prepare_digit(draw_two()), atol=20)


def test_rgb_jpeg_round_trip():
    buffer = io.BytesIO()
    draw_two(mode="RGB", ink=(20, 20, 90), paper=(235, 230, 220)).save(buffer, format="JPEG", quality=85)
    assert_mnist_like(prepare_digit(open_image(buffer.getvalue())))


@pytest.mark.parametrize("pen", [(255, 255, 255, 255), (0, 0, 0, 255)])
def test_one_colour_pen_on_transparent_background_uses_alpha_as_ink(pen):
    image = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(80, 100), (200, 100), (80, 300), (200, 300)], fill=pen, width=18)
    assert_mnist_like(prepare_digit(image))


def test_coloured_rgba_is_composited_onto_white():
    image = Image.new("RGBA", (300, 400), (250, 250, 250, 0))  # transparent, but not one colour:
    image.paste((240, 240, 240, 255), (0, 0, 300, 50))  # an opaque light band at the top
    ImageDraw.Draw(image).line([(80, 100), (200, 100), (80, 300), (200, 300)], fill=(20, 20, 20, 255), width=18)
    assert_mnist_like(prepare_digit(image))


def test_uneven_lighting_and_noise_are_suppressed():
    steps = prepare_digit_steps(uneven_noisy(draw_two()))
    assert_mnist_like(steps.digit)
    # The dim left edge of the paper must not count as ink: nothing outside the 2's bounds.
    top, left, bottom, right = steps.box  # the 2 spans x 80..200, y 100..300, stroke 18 px
    assert 65 <= left and right <= 215 and 85 <= top and bottom <= 315


def test_a_speck_of_dust_does_not_stretch_the_box():
    image = draw_two()
    ImageDraw.Draw(image).ellipse((10, 370, 13, 373), fill=30)
    np.testing.assert_array_equal(prepare_digit(image), prepare_digit(draw_two()))


def test_off_centre_digit_is_centred():
    digit = prepare_digit(draw_two(size=(500, 500), origin=(360, 30)))
    assert_mnist_like(digit)
    np.testing.assert_array_equal(digit, prepare_digit(draw_two(size=(500, 500), origin=(30, 280))))


def test_digit_heavy_at_one_end_keeps_all_its_ink():
    image = Image.new("L", (300, 300), 0)  # a "7" with a heavy bar: its mass is 3 px from the top
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 50, 250, 100), fill=255)
    draw.line([(250, 100), (200, 250)], fill=255, width=10)
    digit = prepare_digit(image)
    assert box_size(digit)[0] == 20  # shifting its mass to row 14 would cut off the foot
    assert digit[0].max() == 0 and digit[-1].max() > 0
    assert 9 <= centre_of_mass(digit)[0] < 13


def test_large_photo_is_reduced_first():
    big = draw_two().resize((3000, 4000), Image.Resampling.BILINEAR)
    steps = prepare_digit_steps(big)
    assert max(steps.gray.shape) == 512
    assert_mnist_like(steps.digit)


def test_tiny_grayscale_image():
    image = Image.new("L", (12, 12), 0)
    ImageDraw.Draw(image).line([(6, 1), (6, 10)], fill=255, width=2)
    digit = prepare_digit(image)
    height, width = box_size(digit)
    assert height == 20 and width <= 6
    row, col = centre_of_mass(digit)
    assert abs(row - 14) <= 0.6 and abs(col - 14) <= 0.6


def test_anti_aliased_edges_keep_intermediate_intensities():
    digit = prepare_digit(draw_two())
    ink = digit[digit > 0]
    assert ((ink > 0) & (ink < 255)).mean() > 0.2  # not binarised


def test_otsu_threshold_separates_two_populations():
    low = np.random.default_rng(0).normal(0.1, 0.02, 900)
    high = np.random.default_rng(1).normal(0.8, 0.02, 100)
    threshold = otsu_threshold(np.concatenate([low, high]))
    assert low.max() < threshold < high.min()
    assert otsu_threshold(np.full(10, 0.3)) == 0.3


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (64, 64), 200),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
        Image.fromarray(np.random.default_rng(0).normal(128, 10, (64, 64)).clip(0, 255).astype(np.uint8)),
    ],
    ids=["blank", "transparent", "noise"],
)
def test_no_ink_is_a_clear_error(image):
    with pytest.raises(ValueError, match="no ink"):
        prepare_digit(image)


def test_empty_image_and_wrong_type_are_clear_errors():
    with pytest.raises(ValueError, match="empty"):
        prepare_digit(Image.new("L", (0, 5)))
    with pytest.raises(ValueError, match="PIL.Image"):
        prepare_digit(np.zeros((28, 28)))


def test_open_image_rejects_non_images(tmp_path):
    with pytest.raises(ValueError, match="not an image"):
        open_image(b"hello, this is text")
    text = tmp_path / "notes.png"
    text.write_text("not a png")
    with pytest.raises(ValueError, match="notes.png is not an image"):
        open_image(text)
    with pytest.raises(ValueError, match="no such file"):
        open_image(tmp_path / "missing.png")


def test_predict_explain_writes_a_figure_of_what_the_network_saw(tmp_path, capsys):
    from scratchnet.cli import main
    from builders import write_linear_model

    run = tmp_path / "run"
    run.mkdir()
    write_linear_model(run / "model.npz")
    photo = tmp_path / "two.jpg"
    draw_two().save(photo)
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    figure = tmp_path / "explain.png"

    assert main(["predict", str(run), str(photo), str(blank), "--json", "--explain", str(figure)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "prediction" in lines[0] and "no ink" in lines[1]  # stdout stays JSON lines
    with Image.open(figure) as image:
        assert image.format == "PNG" and image.width >= 600 and image.height >= 200  # one row: the photo


def test_open_image_decodes_big_jpegs_at_reduced_scale_and_refuses_huge_images(monkeypatch):
    import scratchnet.data.handwriting as handwriting

    buffer = io.BytesIO()
    draw_two(size=(300, 400)).resize((3000, 4000)).save(buffer, format="JPEG")
    image = open_image(buffer.getvalue())
    assert image.size == (1500, 2000)  # 1/2 scale: 1/4 would be under 1024 px wide
    assert_mnist_like(prepare_digit(image))

    monkeypatch.setattr(handwriting, "MAX_PIXELS", 1_000_000)
    with pytest.raises(ValueError, match="1500x2000 pixels, over the limit of 1 megapixels"):
        open_image(buffer.getvalue())
