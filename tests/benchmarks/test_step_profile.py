import pytest

LAYER = "text_classifier/bert_backbone/transformer_layer_1"


@pytest.mark.parametrize(
    "event, kind",
    [
        (
            f"gradient_tape/{LAYER}/self_attention_layer/value/MatMul/MatMul"
            ":_MklBatchMatMulV2",
            "GEMM",
        ),
        (f"{LAYER}/feedforward_intermediate_dense/MatMul:_MklMatMul", "GEMM"),
        # A MatMul fused with its BiasAdd, with oneDNN and without.
        (f"{LAYER}/BiasAdd_3:_MklNativeFusedMatMul", "GEMM"),
        (f"{LAYER}/BiasAdd_3:_FusedMatMul", "GEMM"),
        (f"{LAYER}/BiasAddGrad:BiasAddGrad", "other"),
        ("CpuExecutable::ExecuteAsyncOnStream", "XLA"),
        ("ThunkExecutor::Execute", None),
        (f"{LAYER}/feedforward_dropout/stateless_dropout/SelectV2:SelectV2", "dropout"),
        (
            f"gradient_tape/{LAYER}/feedforward_intermediate_dense/Gelu/mul_3/Mul:Mul",
            "GELU",
        ),
        (f"{LAYER}/self_attention_layer/softmax/SelectV2:SelectV2", "softmax"),
        (f"{LAYER}/feedforward_layer_norm/mul:Mul", "layer norm"),
        ("adam_w/clip_by_norm_17/mul:Square", "optimizer"),
        ("cond/then/_0/cond/adam_w/Sub_3:Sub", "optimizer"),
        (f"{LAYER}/feedforward_output_dense/Cast:Cast", "cast"),
        (f"{LAYER}/add:AddV2", "other"),
        # Not single ops: executor bookkeeping, eager calls, the step itself.
        ("ExecutorState::Process", None),
        ("EagerExecute: __inference_one_step_on_data_26540", None),
        ("__inference_one_step_on_data_26540", None),
    ],
)
def test_op_kind(profile, event, kind):
    assert profile.op_kind(event, {"adam_w"}) == kind


@pytest.mark.parametrize(
    "mixed_precision, freeze_layers, fused_encoder",
    [
        ("none", 0, False),
        ("bfloat16", 1, False),
        ("float16", 0, False),
        ("none", 0, True),
    ],
)
def test_profile_in_process(
    profile, tiny_preset, tmp_path, mixed_precision, freeze_layers, fused_encoder
):
    result = profile.run(
        preset=tiny_preset,
        batch_size=4,
        length=16,
        steps=1,
        warmup_steps=1,
        profile_steps=1,
        mixed_precision=mixed_precision,
        freeze_layers=freeze_layers,
        logdir=str(tmp_path),
        fused_encoder=fused_encoder,
    )
    ops = result["op_seconds"]
    kinds = ("GEMM", "optimizer", "dropout", "GELU", "softmax", "layer norm")
    if fused_encoder:
        # The elementwise work runs in XLA-compiled functions; the 2-D
        # GEMMs, fused with their biases, count as GEMMs.
        kinds = ("GEMM", "optimizer", "XLA")
    for kind in kinds:
        assert ops[kind] > 0, kind
    if mixed_precision == "bfloat16":
        # float32 weights cast to bfloat16 for every layer.
        assert ops["cast"] > 0
    assert result["step_seconds"] > 0
    assert result["gemm_gflops"] == pytest.approx(result["train_gflop"] / ops["GEMM"])
    # The tiny preset: 2 layers 16 wide, 64 tokens per step.
    assert 0 < result["train_gflop"] < 1e-2
    table = profile.format_table(result)
    assert "| GEMM |" in table and "training GFLOP per step" in table


def test_frozen_layers_lower_the_flop_count(profile, tiny_preset):
    flop = [
        profile.run(
            preset=tiny_preset,
            batch_size=2,
            length=8,
            steps=1,
            warmup_steps=1,
            profile_steps=1,
            freeze_layers=n,
        )["train_gflop"]
        for n in (0, 2)
    ]
    assert flop[1] < flop[0]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"mixed_precision": "fp8"}, "mixed_precision='fp8'"),
        ({"steps": 0}, "steps=0"),
        ({"inter_op_threads": -1}, "inter_op_threads=-1"),
    ],
)
def test_bad_arguments(profile, bad, message):
    with pytest.raises(ValueError, match=message):
        profile.run(**bad)


def test_missing_profile(profile, tmp_path):
    with pytest.raises(FileNotFoundError, match="logdir="):
        profile.op_seconds(str(tmp_path), {"adam_w"})
