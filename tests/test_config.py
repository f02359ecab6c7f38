import pytest

from anogan_core.config import CPU_MAP_CHUNK, DUKE_TRAIN_PATCH_FACTOR, ConfigError, chapter_config, make_config


def test_unknown_profile_lists_allowed():
    with pytest.raises(ConfigError, match="unknown profile 'fast'; allowed: smoke, cpu, paper"):
        make_config("fast")


def test_unknown_dataset_lists_allowed():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'; allowed: synthetic, oct, duke, folder"):
        make_config("smoke", "mnist")


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="unknown parameter.*'lamda'.*allowed:.*lam"):
        make_config("smoke", lamda=0.5)


def test_wrong_type_and_range():
    with pytest.raises(ConfigError, match="'lam' must be a number"):
        make_config("smoke", lam="high")
    with pytest.raises(ConfigError, match=r"'lam' must lie in \[0.0, 1.0\]"):
        make_config("smoke", lam=1.5)
    with pytest.raises(ConfigError, match="'steps' must be a whole number"):
        make_config("smoke", steps=2.5)
    with pytest.raises(ConfigError, match="'clamp_z' must be True or False"):
        make_config("smoke", clamp_z=1)
    with pytest.raises(ConfigError, match="'patch_region' must be one of window, retina; got 'choroid'"):
        make_config("smoke", patch_region="choroid")
    with pytest.raises(ConfigError, match=r"'residual_sigma' must lie in \[0.0, 8.0\]"):
        make_config("smoke", residual_sigma=-1)


def test_missing_data_dir_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=f"data directory '{missing}' for dataset 'oct' does not exist"):
        make_config("smoke", "oct", missing)


def test_paper_profile_holds_the_papers_numbers():
    cfg = make_config("paper")
    assert (cfg.width, cfg.z_dim, cfg.epochs, cfg.steps, cfg.lam, cfg.patch_size) == (64, 100, 20, 500, 0.1, 64)
    assert not cfg.resize_conv and cfg.map_starts == 1  # the paper's free 5x5 kernels and one random start
    assert not cfg.spectral_norm and cfg.lr_d == cfg.lr_g == 2e-4  # the paper's plain D and learning rates


def test_none_overrides_keep_the_profile():
    assert make_config("smoke", lam=None) == make_config("smoke")
    assert make_config("smoke", lam=None).run_dir.name == "synthetic-smoke"


def test_run_dirs_and_stage_keys():
    base = make_config("smoke")
    lam = make_config("smoke", lam=0.5)
    wide = make_config("smoke", width=16)
    # a new lambda gets its own run directory and mapping cache, but reuses the GAN
    assert lam.run_dir != base.run_dir
    assert lam.stage_key("gan") == base.stage_key("gan")
    assert lam.stage_key("map") == base.stage_key("map")  # lambda is part of the mapping file name
    # a new width retrains: new GAN and mapping keys, same data
    assert wide.stage_key("data") == base.stage_key("data")
    assert wide.stage_key("gan") != base.stage_key("gan")
    assert wide.stage_key("map") != base.stage_key("map")
    # so does G's upsampling (the paper's free 5x5 kernels vs the resize-convolution)
    assert make_config("smoke", resize_conv=False).stage_key("gan") != base.stage_key("gan")
    # and D's spectral normalisation, and another draw of the GAN (same data)
    assert make_config("smoke", spectral_norm=False).stage_key("gan") != base.stage_key("gan")
    assert make_config("smoke", gan_seed=2).stage_key("gan") != base.stage_key("gan")
    assert make_config("smoke", gan_seed=2).stage_key("data") == base.stage_key("data")
    # the real-data options: despeckled inputs and retina-only patches rebuild the data,
    # a low-passed residual only maps anew
    for data_option in (dict(despeckle=3), dict(patch_region="window")):
        assert make_config("smoke", **data_option).stage_key("data") != base.stage_key("data")
    smooth = make_config("smoke", residual_sigma=0.0)
    assert smooth.stage_key("gan") == base.stage_key("gan") and smooth.stage_key("map") != base.stage_key("map")
    # the encoder (beyond the paper) branches off the GAN: its settings retrain neither the GAN nor
    # the iterative mapping, while a new GAN or residual retrains the encoder
    for encoder_option in (dict(encoder_epochs=2), dict(kappa=0.5), dict(encoder_lr=1e-3)):
        other = make_config("smoke", **encoder_option)
        assert other.stage_key("gan") == base.stage_key("gan") and other.stage_key("map") == base.stage_key("map")
        assert other.stage_key("encoder") != base.stage_key("encoder")
    assert wide.stage_key("encoder") != base.stage_key("encoder")
    assert smooth.stage_key("encoder") != base.stage_key("encoder")
    assert lam.stage_key("encoder") == base.stage_key("encoder")
    # setting a value to its profile default is not an override
    assert make_config("smoke", lam=0.1).run_dir == base.run_dir
    assert make_config("smoke", seed=1).run_dir != base.run_dir


def test_stage_keys_follow_the_code(monkeypatch):
    import anogan_core.config as config
    from anogan_core.pipeline import acae_dir

    def keys():
        cfg = make_config("smoke")
        return {**{s: cfg.stage_key(s) for s in ("data", "gan", "map")}, "acae": acae_dir(cfg).name}

    before = keys()
    real = config.Path.read_bytes

    def edit(module):
        def read_bytes(path):
            return real(path) + (b"# edited" if path.name == f"{module}.py" else b"")

        monkeypatch.setattr(config.Path, "read_bytes", read_bytes)
        config.code_digest.cache_clear()
        return keys()

    after = edit("training")
    assert after["data"] == before["data"]
    assert after["gan"] != before["gan"] and after["map"] != before["map"]
    after = edit("baselines")  # retrains the aCAE, not the GAN
    assert after["gan"] == before["gan"] and after["acae"] != before["acae"]
    config.code_digest.cache_clear()


def test_map_chunk_is_capped_on_cpu_unless_given(monkeypatch):
    monkeypatch.setenv("ANOGAN_DEVICE", "cpu")
    assert make_config("paper").map_chunk == CPU_MAP_CHUNK
    assert make_config("paper", map_chunk=512).map_chunk == 512  # an explicit choice is kept
    monkeypatch.setenv("ANOGAN_DEVICE", "cuda")
    assert make_config("paper").map_chunk == 1024


def test_chapter_config_reads_a_chapters_parameters():
    params = {"profile": "smoke", "dataset": "synthetic", "data_dir": "", "seed": 2, "lam": 0.5, "width": None,
              "residual_sigma": 3.0, "np": object()}  # fmt: skip
    cfg = chapter_config(params)
    assert cfg == make_config("smoke", "synthetic", None, 2, lam=0.5, residual_sigma=3.0)
    assert cfg.overrides == {"lam": 0.5, "residual_sigma": 3.0}
    with pytest.raises(ConfigError, match="'despeckle' must lie in"):
        chapter_config({**params, "despeckle": -1})


def test_the_same_scanner_protocol_takes_more_patches_per_scan(tmp_path):
    duke = make_config("cpu", "duke", tmp_path)
    assert duke.train_patches_per_scan == DUKE_TRAIN_PATCH_FACTOR * make_config("cpu").train_patches_per_scan
    assert duke.overrides == {} and duke.run_dir.name == "duke-cpu"
    given = make_config("cpu", "duke", tmp_path, train_patches_per_scan=100)
    assert given.train_patches_per_scan == 100 and given.overrides == {"train_patches_per_scan": 100}
