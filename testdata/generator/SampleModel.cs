using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Serialization;
using Attribute = Ternion.IR.Attribute;

namespace Ternion.SampleGen;

/// <summary>Which attention the graph carries.</summary>
public enum AttentionForm
{
    /// <summary>ai.onnx.preview FlexAttention with element-wise score_mod / mask_mod graphs (model.onnx).</summary>
    FlexAttention,
    /// <summary>The same computation in standard ops only, for ONNX Runtime (reference.onnx).</summary>
    Expanded,
}

/// <summary>How the seven projections of each layer store their weights (the plain sample, or one of its twins).</summary>
public enum WeightForm
{
    /// <summary>float32 [K, N] initializers holding trit * scale (model.onnx of bitnet-tiny).</summary>
    Plain,
    /// <summary>
    /// bfloat16 master weights [N, K] (torch layout) quantized in the graph with BitNet b1.58's
    /// absmean weight_quant, per tensor for attention and per output channel for the MLP
    /// (bitnet-tiny-online: a training checkpoint exported without constant folding).
    /// </summary>
    OnlineQuantized,
    /// <summary>
    /// HF transformers' BitNet deployment layout: uint8 [N/4, K], 2 bits per trit, unpacked in the
    /// graph; attention divides the product by a weight_scale, the MLP multiplies the unpacked
    /// weight by a per-channel scale (bitnet-tiny-packed).
    /// </summary>
    PackedUInt8,
}

/// <summary>What <see cref="SampleModel.Write"/> produced.</summary>
public sealed record SampleFiles(string Folder, string ModelPath, string ReferencePath, string InputPath, string OutputPath);

/// <summary>
/// The shipped sample: a tiny BitNet-style decoder (2 layers, GQA with 4 query and 2 KV heads,
/// SiLU-gated FFN, RMSNorm, tied dense LM head) whose seven projections per layer are ternary
/// float32 MatMul weights, plus one near-ternary decoy that must stay dense.
/// </summary>
public static class SampleModel
{
    public const string PreviewDomain = "ai.onnx.preview";
    public const long IrVersion = 13;
    public const long DefaultOpset = 26;
    public const string ModelFile = "model.onnx";
    public const string ReferenceFile = "reference.onnx";
    public const string DataSetFolder = "test_data_set_0";
    public const string InputName = "input_ids";
    public const string OutputName = "logits";
    public const string SeqDim = "seq";

    public static Model Build(int seed = SampleWeights.DefaultSeed) => Build(SampleWeights.Generate(seed));

    public static Model Build(SampleWeights w, AttentionForm form = AttentionForm.FlexAttention, WeightForm weights = WeightForm.Plain) =>
        new Builder(w, form, weights).Build();

    /// <summary>Folder names of the twins under testdata/.</summary>
    public static string TwinFolder(WeightForm form) => form switch
    {
        WeightForm.OnlineQuantized => "bitnet-tiny-online",
        WeightForm.PackedUInt8 => "bitnet-tiny-packed",
        _ => "bitnet-tiny",
    };

    /// <summary>
    /// Writes a twin of the sample: the same weights and tokens, the projections stored in
    /// <paramref name="weights"/>' form, attention in standard ops (so ONNX Runtime runs the twin
    /// itself and `ternion verify` compares it with its compiled form), and the test input.
    /// </summary>
    public static (string ModelPath, string InputPath) WriteTwin(string folder, WeightForm weights, int seed = SampleWeights.DefaultSeed)
    {
        var w = SampleWeights.Generate(seed);
        string dataSet = Path.Combine(folder, DataSetFolder);
        Directory.CreateDirectory(dataSet);
        string model = Path.Combine(folder, ModelFile), input = Path.Combine(dataSet, "input_0.pb");
        ModelSerializer.Save(Build(w, AttentionForm.Expanded, weights), model, new SaveOptions { ExternalData = ExternalDataMode.Never });
        WriteTensor(input, Tensor.FromArray(InputName, DataType.Int64, [1, w.Tokens.Length], w.Tokens));
        return (model, input);
    }

    public static Model BuildReference(SampleWeights w) => Build(w, AttentionForm.Expanded);

    /// <summary>
    /// Writes model.onnx, reference.onnx and test_data_set_0/{input_0,output_0}.pb into
    /// <paramref name="folder"/> (created if missing). Same seed, same bytes.
    /// </summary>
    public static SampleFiles Write(string folder, int seed = SampleWeights.DefaultSeed)
    {
        var w = SampleWeights.Generate(seed);
        string dataSet = Path.Combine(folder, DataSetFolder);
        Directory.CreateDirectory(dataSet);
        // Inline on purpose: a few MB, and one self-contained file is what the tests and docs point at.
        var save = new SaveOptions { ExternalData = ExternalDataMode.Never };
        var files = new SampleFiles(folder, Path.Combine(folder, ModelFile), Path.Combine(folder, ReferenceFile),
            Path.Combine(dataSet, "input_0.pb"), Path.Combine(dataSet, "output_0.pb"));
        ModelSerializer.Save(Build(w), files.ModelPath, save);
        ModelSerializer.Save(BuildReference(w), files.ReferencePath, save);

        int len = w.Tokens.Length;
        var logits = ReferenceForward.Run(w, w.Tokens);
        WriteTensor(files.InputPath, Tensor.FromArray(InputName, DataType.Int64, [1, len], w.Tokens));
        WriteTensor(files.OutputPath, Tensor.FromArray(OutputName, DataType.Float, [1, len, w.Config.Vocab], logits));
        return files;
    }

    private static void WriteTensor(string path, Tensor t)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        ModelSerializer.TensorToProto(t).WriteTo(fs);
    }

    private sealed class Builder(SampleWeights w, AttentionForm form, WeightForm weights)
    {
        private ExportForms _forms = null!;
        private readonly SampleConfig _c = w.Config;
        private Model _model = null!;
        private GraphBuilder _b = null!;
        // Constants shared by every layer.
        private Value _two = null!, _eps = null!, _lastAxis = null!, _softCap = null!;
        private Value _qShape = null!, _kvShape = null!, _mergeShape = null!;
        // Expanded form only.
        private Value _causalMask = null!, _sqrtScale = null!, _negInf = null!, _groupExpand = null!, _repShape = null!, _axis2 = null!;

        public Model Build()
        {
            var graph = new Graph { Name = "bitnet_tiny" };
            _model = new Model(graph)
            {
                IrVersion = IrVersion,
                ProducerName = "Ternion.SampleGen",
                ProducerVersion = "1",
                DocString = $"Tiny BitNet-style decoder (seed {w.Seed}), {(form == AttentionForm.FlexAttention ? "element-wise FlexAttention" : "attention expanded to standard ops")}"
                    + (weights == WeightForm.Plain ? "" : $", projections stored as {weights}") + ". Generated by testdata/generator.",
            };
            _model.OpsetImports.Add(new OpsetId("", DefaultOpset));
            if (form == AttentionForm.FlexAttention) _model.OpsetImports.Add(new OpsetId(PreviewDomain, 1));
            _b = new GraphBuilder(graph);
            _forms = new ExportForms(graph, DefaultOpset);
            int d = _c.Hidden;

            var ids = graph.AddInput(InputName, IrType.Tensor(DataType.Int64, new Shape([Dim.Of(1), Dim.Symbol(SeqDim)])));

            _two = _b.ScalarFloat("const.two", 2f);
            _eps = _b.ScalarFloat("const.rms_eps", _c.RmsEps);
            _lastAxis = _b.Int64s("const.axes_last", -1);
            // The soft-cap constant lives in the main graph; the score_mod bodies capture it from the outer scope.
            _softCap = _b.ScalarFloat("attn.softcap", _c.SoftCap);
            _qShape = _b.Int64s("const.shape_q_heads", 1, -1, _c.QueryHeads, _c.HeadDim);
            _kvShape = _b.Int64s("const.shape_kv_heads", 1, -1, _c.KvHeads, _c.HeadDim);
            _mergeShape = _b.Int64s("const.shape_merge_heads", 1, -1, _c.QueryWidth);
            if (form == AttentionForm.Expanded) BuildExpandedConstants(ids);

            var embed = _b.Floats("embed_tokens.weight", [_c.Vocab, d], w.Embed);
            var x = _b.Op("Gather", "embed", [embed, ids], Attribute.Int("axis", 0));
            var proj = _b.Op("MatMul", "embed_proj", [x, _b.Floats("embed_proj.weight", [d, d], w.EmbedProj)]);
            x = _b.Op("Add", "embed_out", [x, proj]);

            for (int l = 0; l < w.Layers.Length; l++) x = Layer(l, w.Layers[l], x);

            var h = RmsNorm("norm", x, _b.Floats("norm.weight", [d], w.FinalNorm));
            var logits = _b.Op("MatMul", OutputName, [h, _b.Floats("lm_head.weight", [d, _c.Vocab], w.LmHead)]);
            logits.Type = IrType.Tensor(DataType.Float, new Shape([Dim.Of(1), Dim.Symbol(SeqDim), Dim.Of(_c.Vocab)]));
            graph.Outputs.Add(logits);
            return _model;
        }

        private Value Layer(int l, LayerWeights lw, Value x)
        {
            string p = $"layers.{l}.";
            int d = _c.Hidden;
            var h = RmsNorm(p + "input_layernorm", x, _b.Floats(p + "input_layernorm.weight", [d], lw.AttnNorm));
            var q = Heads(p + "attn.q", Project(p + "attn.q_proj", h, lw.Q), _qShape);
            var k = Heads(p + "attn.k", Project(p + "attn.k_proj", h, lw.K), _kvShape);
            var v = Heads(p + "attn.v", Project(p + "attn.v_proj", h, lw.V), _kvShape);
            var y = form == AttentionForm.FlexAttention ? FlexAttention(l, q, k, v) : ExpandedAttention(p, q, k, v);
            y = _b.Op("Transpose", p + "attn.y_seq_major", [y], Attribute.Ints("perm", [0, 2, 1, 3]));
            y = _b.Op("Reshape", p + "attn.y_merged", [y, _mergeShape]);
            var o = Project(p + "attn.o_proj", y, lw.O);
            x = _b.Op("Add", p + "attn.residual", [x, o]);

            h = RmsNorm(p + "post_attention_layernorm", x, _b.Floats(p + "post_attention_layernorm.weight", [d], lw.FfnNorm));
            var gate = Project(p + "mlp.gate_proj", h, lw.Gate);
            var up = Project(p + "mlp.up_proj", h, lw.Up);
            var sig = _b.Op("Sigmoid", p + "mlp.gate_sigmoid", [gate]);
            var silu = _b.Op("Mul", p + "mlp.gate_silu", [gate, sig]);
            var act = _b.Op("Mul", p + "mlp.act", [silu, up]);
            var down = Project(p + "mlp.down_proj", act, lw.Down);
            return _b.Op("Add", p + "mlp.residual", [x, down]);
        }

        /// <summary>x @ W for a ternary projection, W stored in the builder's weight form.</summary>
        private Value Project(string name, Value x, TernaryWeight t)
        {
            int k = t.Rows, n = t.Cols;
            switch (weights)
            {
                case WeightForm.OnlineQuantized:
                {
                    // torch.nn.Linear keeps [out, in]: the master is the latent weight transposed.
                    var master = new float[n * k];
                    for (int r = 0; r < k; r++) for (int c = 0; c < n; c++) master[c * k + r] = t.Latent[r * n + c];
                    var m = _b.Graph.AddInitializer(new Tensor(t.Name, DataType.BFloat16, [n, k], new MemoryTensorData(LowPrecision.BFloat16(master))), t.Name);
                    return _forms.OnlineQuantizedLinear(x, m, name, new OnlineQuant { PerChannel = t.Kind == ScaleKind.PerChannel });
                }
                case WeightForm.PackedUInt8:
                {
                    var tritsNK = new sbyte[n * k];
                    for (int r = 0; r < k; r++) for (int c = 0; c < n; c++) tritsNK[c * k + r] = t.Trits[r * n + c];
                    var packed = _b.Graph.AddInitializer(new Tensor(t.Name, DataType.UInt8, [n / 4, k], new MemoryTensorData(ExportForms.PackHfBitNet(tritsNK, n, k))), t.Name);
                    if (t.Kind == ScaleKind.PerChannel)
                        return _forms.MatMul(x, _forms.UnpackedWeight(packed, name, UnpackStyle.BitOps, _b.Floats(name + ".scale", [n, 1], t.Scales)));
                    // HF's BitLinear divides the product by weight_scale, the reciprocal of the weight's magnitude.
                    var y = _forms.MatMul(x, _forms.UnpackedWeight(packed, name, UnpackStyle.BitOps));
                    return _b.Op("Div", name, [y, _b.Floats(name + ".weight_scale", [1], [1f / t.Scales[0]])]);
                }
                default:
                    return _b.Op("MatMul", name, [x, _b.Floats(t.Name, [k, n], t.Values)]);
            }
        }

        /// <summary>[1, seq, heads*E] -> [1, heads, seq, E].</summary>
        private Value Heads(string name, Value x, Value shape)
        {
            var r = _b.Op("Reshape", name + "_split", [x, shape]);
            return _b.Op("Transpose", name + "_heads", [r], Attribute.Ints("perm", [0, 2, 1, 3]));
        }

        /// <summary>RMSNorm from standard ops, as exporters write it: x / sqrt(mean(x^2) + eps) * gamma.</summary>
        private Value RmsNorm(string name, Value x, Value gamma)
        {
            var sq = _b.Op("Pow", name + ".sq", [x, _two]);
            var ms = _b.Op("ReduceMean", name + ".mean_sq", [sq, _lastAxis], Attribute.Int("keepdims", 1));
            var ve = _b.Op("Add", name + ".var_eps", [ms, _eps]);
            var rms = _b.Op("Sqrt", name + ".rms", [ve]);
            var n = _b.Op("Div", name + ".normed", [x, rms]);
            return _b.Op("Mul", name + ".out", [n, gamma]);
        }

        private static IrType Scalar(DataType t) => IrType.Tensor(t, new Shape());

        /// <summary>
        /// Element-wise FlexAttention: score_mod(score, b, h, q_idx, kv_idx) = c * tanh(score / c) with c
        /// captured from the main graph, and mask_mod(b, h, q_idx, kv_idx) = q_idx >= kv_idx. All formal
        /// inputs are rank-0 tensors, indices int64, as in the element-wise conformance models.
        /// </summary>
        private Value FlexAttention(int l, Value q, Value k, Value v)
        {
            string p = $"layers.{l}.attn.";
            var names = _model.Names;

            var score = new Graph(names) { Name = $"layers_{l}_softcap_score_mod" };
            var s = score.AddInput(p + "score_mod.score", Scalar(DataType.Float));
            foreach (var idx in new[] { "b", "h", "q_idx", "kv_idx" }) score.AddInput(p + "score_mod." + idx, Scalar(DataType.Int64));
            var sb = new GraphBuilder(score);
            var div = sb.Op("Div", p + "score_mod.div", [s, _softCap]);
            var th = sb.Op("Tanh", p + "score_mod.tanh", [div]);
            var sout = sb.Op("Mul", p + "score_mod.out", [_softCap, th]);
            sout.Type = Scalar(DataType.Float);
            score.Outputs.Add(sout);

            var mask = new Graph(names) { Name = $"layers_{l}_causal_mask_mod" };
            mask.AddInput(p + "mask_mod.b", Scalar(DataType.Int64));
            mask.AddInput(p + "mask_mod.h", Scalar(DataType.Int64));
            var qi = mask.AddInput(p + "mask_mod.q_idx", Scalar(DataType.Int64));
            var ki = mask.AddInput(p + "mask_mod.kv_idx", Scalar(DataType.Int64));
            var mout = new GraphBuilder(mask).Op("GreaterOrEqual", p + "mask_mod.out", [qi, ki]);
            mout.Type = Scalar(DataType.Bool);
            mask.Outputs.Add(mout);

            return _b.OpIn(PreviewDomain, "FlexAttention", p + "flex", [q, k, v],
                Attribute.Int("enable_gqa", 1),
                Attribute.FromGraph("score_mod", score),
                Attribute.FromGraph("mask_mod", mask));
        }

        /// <summary>Constants and the [seq, seq] causal mask of the expanded form, computed once for all layers.</summary>
        private void BuildExpandedConstants(Value ids)
        {
            _sqrtScale = _b.ScalarFloat("attn.sqrt_scale", _c.SqrtScale);
            _negInf = _b.ScalarFloat("attn.mask_value", float.NegativeInfinity);
            _axis2 = _b.Int64s("const.axes_2", 2);
            // Unsqueezed K/V are [1, Hkv, 1, S, E]; broadcasting to this shape repeats each KV head GroupSize times, adjacent.
            _groupExpand = _b.Int64s("const.gqa_expand", 1, 1, _c.GroupSize, 1, 1);
            _repShape = _b.Int64s("const.shape_kv_repeated", 1, _c.QueryHeads, -1, _c.HeadDim);

            var shape = _b.Op("Shape", "attn.ids_shape", [ids]);
            var len = _b.Op("Gather", "attn.seq_len", [shape, _b.ScalarInt64("const.index_1", 1)], Attribute.Int("axis", 0));
            var pos = _b.Op("Range", "attn.positions", [_b.ScalarInt64("const.zero", 0), len, _b.ScalarInt64("const.one", 1)]);
            var qpos = _b.Op("Unsqueeze", "attn.q_positions", [pos, _b.Int64s("const.axes_1", 1)]);
            var kpos = _b.Op("Unsqueeze", "attn.kv_positions", [pos, _b.Int64s("const.axes_0", 0)]);
            _causalMask = _b.Op("GreaterOrEqual", "attn.causal_mask", [qpos, kpos]);
        }

        /// <summary>
        /// FlexAttention's reference steps by hand: repeat-interleave K/V heads, multiply Q and K by
        /// sqrt(scale), MatMul with K transposed, soft-cap, mask to -inf, softmax, MatMul with V.
        /// </summary>
        private Value ExpandedAttention(string p, Value q, Value k, Value v)
        {
            Value Repeat(string name, Value kv)
            {
                var u = _b.Op("Unsqueeze", p + $"attn.{name}_unsq", [kv, _axis2]);
                var e = _b.Op("Expand", p + $"attn.{name}_expand", [u, _groupExpand]);
                return _b.Op("Reshape", p + $"attn.{name}_rep", [e, _repShape]);
            }
            var kr = Repeat("k", k);
            var vr = Repeat("v", v);
            var qs = _b.Op("Mul", p + "attn.q_scaled", [q, _sqrtScale]);
            var ks = _b.Op("Mul", p + "attn.k_scaled", [kr, _sqrtScale]);
            var kt = _b.Op("Transpose", p + "attn.k_t", [ks], Attribute.Ints("perm", [0, 1, 3, 2]));
            var scores = _b.Op("MatMul", p + "attn.scores", [qs, kt]);
            var div = _b.Op("Div", p + "attn.softcap_div", [scores, _softCap]);
            var th = _b.Op("Tanh", p + "attn.softcap_tanh", [div]);
            var capped = _b.Op("Mul", p + "attn.softcap", [_softCap, th]);
            var masked = _b.Op("Where", p + "attn.masked", [_causalMask, capped, _negInf]);
            var probs = _b.Op("Softmax", p + "attn.probs", [masked], Attribute.Int("axis", -1));
            return _b.Op("MatMul", p + "attn.y", [probs, vr]);
        }
    }
}
