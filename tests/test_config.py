import pytest

from anogan_core.config import CPU_MAP_CHUNK, ConfigError, make_config


def test_unknown_profile_lists_allowed():
    with pytest.raises(ConfigError, match="unknown profile 'fast'; allowed: smoke, cpu, paper"):
        make_config("fast")


def test_unknown_dataset_lists_allowed():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'; allowed: synthetic, oct, folder"):
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
    # and D's spectral normalisation
    assert make_config("smoke", spectral_norm=False).stage_key("gan") != base.stage_key("gan")
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
