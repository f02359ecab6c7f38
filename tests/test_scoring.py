import numpy as np
import pytest
from PIL import Image

from anogan_core.datasets import DataError
from anogan_core.encoder import encode_and_score
from anogan_core.mapping import map_to_latent
from anogan_core.metrics import scan_score
from anogan_core.model_file import RunError, load_run, start_pool
from anogan_core.patches import decode, encode
from anogan_core.phantom import make_scans
from anogan_core.preprocess import FLAT_ROWS, FLAT_RPE_ROW, FlatScan, PreprocessError
from anogan_core.scan_files import crop_constant_border, read_scan
from anogan_core.scoring import score_flat_scan, score_scans


def test_crop_constant_border_keeps_exactly_the_varying_interior():
    rng = np.random.default_rng(0)
    inner = rng.integers(0, 255, (70, 90), dtype=np.uint8)
    inner[0, 0], inner[-1, -1] = 0, 254  # no row or column of the interior is constant
    framed = np.full((70 + 5 + 9, 90 + 3 + 11), 30, np.uint8)
    framed[5:75, 3:93] = inner
    assert np.array_equal(crop_constant_border(framed), inner)
    assert crop_constant_border(np.zeros((100, 100), np.uint8)).size == 0
    # saturated white rows and columns are export padding: kept, preprocessing masks them
    padded = np.full((70 + 8, 90 + 16), 255, np.uint8)
    padded[8:, :90] = inner
    assert np.array_equal(crop_constant_border(padded), padded)


def test_rgb_rgba_and_16_bit_files_read_as_the_grey_scan(tmp_path):
    grey = make_scans(1, 3)[0].image
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)])).save(tmp_path / "rgba.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.tif")
    cropped = crop_constant_border(grey)
    for name in ("rgb.png", "rgba.png", "deep.tif"):
        image = read_scan(tmp_path / name).image
        assert image.dtype == np.uint8 and image.shape == cropped.shape
        assert np.abs(image.astype(int) - cropped).max() <= 1, name


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"not an image at all", "unreadable"),
        ("truncated", "unreadable or truncated"),
        ("tiny", "too small, 40x40 pixels"),
        ("black", "constant image (every pixel is 0)"),
    ],
)
def test_unusable_files_are_refused_with_their_reason(tmp_path, content, reason):
    path = tmp_path / "scan.png"
    if content == "truncated":
        Image.fromarray(make_scans(1, 3)[0].image).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "tiny":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(path)
    elif content == "black":
        Image.fromarray(np.zeros((496, 512), np.uint8)).save(path)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=str(path)) as err:
        read_scan(path)
    assert reason in str(err.value)


def test_healthy_phantom_scans_score_lower_than_diseased_ones(trained_run, phantom_files):
    result = score_scans(trained_run, [phantom_files], progress=False)
    assert not result.refused and len(result.scored) == 6
    score = {s.path.stem: s.score for s in result.scored}
    healthy = np.mean([v for k, v in score.items() if k.startswith("normal")])
    diseased = np.mean([v for k, v in score.items() if k.startswith("fluid")])
    assert healthy < diseased
    for s in result.scored:
        assert s.score == pytest.approx(scan_score(s.anomaly))
        assert np.isfinite(s.heat).any() and np.isnan(s.heat).any()  # the map covers the windows only


def test_a_window_scores_as_if_mapped_alone(trained_run, phantom_files):
    """All windows of a scan are mapped in one batch; each equals its own mapping of the same window."""
    run = load_run(trained_run)
    scored = score_scans(run, [phantom_files / "fluid_0.png"], progress=False).scored[0]
    cfg = run.cfg
    for j in (0, len(scored.positions) - 1):
        r, c = scored.positions[j]
        window = scored.flat.image[r : r + 64, c : c + 64][None]
        alone = map_to_latent(
            run.G, run.D, decode(encode(window)), steps=cfg.steps, lam=cfg.lam, lr=cfg.map_lr, clamp=cfg.clamp_z,
            starts=start_pool(cfg), sigma=cfg.residual_sigma, progress=False,
        )  # fmt: skip
        assert alone.anomaly[0] == pytest.approx(scored.anomaly[j], rel=1e-4)
        assert alone.residual[0] == pytest.approx(scored.residual[j], rel=1e-4)


def test_refused_files_are_listed_and_the_rest_scored(trained_run, phantom_files, tmp_path):
    bad = tmp_path / "empty.png"
    bad.touch()
    result = score_scans(trained_run, [phantom_files / "normal_0.png", bad], progress=False)
    assert [s.path.name for s in result.scored] == ["normal_0.png"]
    assert result.refused == {str(bad): "empty file"}


def test_a_run_without_its_model_is_refused_clearly(trained_run, tmp_path):
    with pytest.raises(RunError, match="no metrics.json"):
        load_run(tmp_path)
    copy = tmp_path / "runs" / trained_run.name
    copy.mkdir(parents=True)
    (copy / "metrics.json").write_bytes((trained_run / "metrics.json").read_bytes())
    with pytest.raises(RunError, match="its trained DCGAN is not at .*02_dcgan"):
        load_run(copy)


def test_bad_settings_name_the_parameter(trained_run, phantom_files):
    with pytest.raises(
        ValueError, match="width_mm: a scan width of 0 mm is outside the widths of OCT B-scans, 1 to 30 mm"
    ):
        score_scans(trained_run, [phantom_files], width_mm=0, progress=False)
    with pytest.raises(ValueError, match="stride must be at least 1"):
        score_scans(trained_run, [phantom_files], stride=0, progress=False)


def test_a_thin_retina_is_tiled_more_finely_before_it_is_refused(trained_run):
    """Only columns 4-67 hold 64 rows of retina: the stride-16 grid misses them, stride 4 does not."""
    run = load_run(trained_run)
    cols = 160
    top = np.full(cols, FLAT_RPE_ROW - 20.0, np.float32)
    top[4:68] = FLAT_RPE_ROW + 1 - 64
    image = np.random.default_rng(0).uniform(-1, 1, (FLAT_ROWS, cols)).astype(np.float32)
    flat = FlatScan(image, np.ones_like(image, bool), None, None, top, top, top, image)
    pos = score_flat_scan(run, flat)[0]
    assert pos.tolist() == [[FLAT_RPE_ROW + 1 - 64, 4]]
    top[4:68] = FLAT_RPE_ROW - 20.0
    with pytest.raises(PreprocessError, match="no 64x64 window fits the detected retina"):
        score_flat_scan(run, flat)


def test_the_encoder_scores_each_window_in_one_pass(trained_run, phantom_files):
    run = load_run(trained_run, "encoder")
    scored = score_scans(run, [phantom_files / "fluid_0.png"], progress=False).scored[0]
    windows = decode(encode(np.stack([scored.flat.image[r : r + 64, c : c + 64] for r, c in scored.positions])))
    alone = encode_and_score(run.encoder, run.G, run.D, windows, run.cfg.kappa, run.cfg.residual_sigma)
    np.testing.assert_allclose(scored.anomaly, alone.anomaly, rtol=1e-5)
    assert scored.score == pytest.approx(scan_score(alone.anomaly), rel=1e-5)


def test_a_run_without_an_encoder_names_the_chapter_that_trains_it(trained_run, tmp_path):
    import shutil

    copy = tmp_path / "runs" / trained_run.name
    shutil.copytree(trained_run, copy)
    gan = next((trained_run.parent / "cache").glob("*-gan-*"))
    shutil.copytree(gan, tmp_path / "runs" / "cache" / gan.name)
    assert load_run(copy).encoder is None
    with pytest.raises(RunError, match="izi_f encoder is not at .*07_fast_mapping"):
        load_run(copy, "encoder")
    with pytest.raises(ValueError, match="unknown mapping 'fast'; allowed: iterative, encoder"):
        load_run(copy, "fast")
