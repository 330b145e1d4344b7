using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.SampleGen;

namespace Ternion.ModelGen;

/// <summary>Shape of a synthetic BitNet-style decoder. Defaults are BitNet-2B's (about 2.4 billion weights with the embedding).</summary>
public sealed record DecoderShape
{
    public int Layers { get; init; } = 30;
    public int Hidden { get; init; } = 2560;
    public int Ffn { get; init; } = 6912;
    public int Heads { get; init; } = 20;
    public int KvHeads { get; init; } = 5;
    public int Vocab { get; init; } = 128256;
    /// <summary>Embedding table and LM head (dense float32); without them the model maps hidden states to hidden states.</summary>
    public bool Embedding { get; init; } = true;
    /// <summary>Ternary q/k/v/o/gate/up/down; false writes ordinary dense float weights of the same shapes.</summary>
    public bool Ternary { get; init; } = true;
    /// <summary>
    /// Quantize the activations of every projection to int8 per token by absmax, the way BitNet
    /// b1.58 does (s = 127 / clamp(max|x|, 1e-5); x' = clip(round(x s), -128, 127) / s) in float32 ops.
    /// </summary>
    public bool ActivationQuant { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>How the ternary projections are stored (ignored for dense models).</summary>
    public WeightStorage Form { get; init; } = WeightStorage.Float;
    /// <summary>Tensors as raw_data inside the .onnx file (as exporters write models under 2 GB) instead of in OUT.onnx.data.</summary>
    public bool Inline { get; init; }
    public int HeadDim => Hidden / Heads;
}

/// <summary>The forms exporters write ternary projections in (issue 12's forms 1, 2 and 4, and plain floats).</summary>
public enum WeightStorage
{
    /// <summary>float32 [K, N] holding trit * scale.</summary>
    Float,
    /// <summary>Form 1: bfloat16 master weights [N, K] quantized online by BitNet's weight_quant subgraph.</summary>
    Online,
    /// <summary>Form 2: HF BitNet uint8 [N/4, K], unpacked in the graph, weight_scale divided after the MatMul.</summary>
    Packed,
    /// <summary>Form 4: com.microsoft::MatMulNBits, 4 bits, block 32, no zero points (the GenAI builder's default).</summary>
    NBits,
}

/// <summary>
/// Builds a decoder whose weights are produced tensor by tensor while the model is written
/// (deferred data), so a 10 GB model is generated with about one tensor in memory.
/// Layers: RMSNorm, q/k/v projections, causal GQA attention in plain ops, o projection,
/// residual, RMSNorm, SiLU-gated FFN (gate, up, down), residual.
/// </summary>
public static class SyntheticDecoder
{
    public static Model Build(DecoderShape s)
    {
        var g = new Graph { Name = "synthetic_bitnet" };
        var m = new Model(g) { IrVersion = 10, ProducerName = "ternion-modelgen", ProducerVersion = "1" };
        m.OpsetImports.Add(new OpsetId("", 21));
        if (s.Ternary && s.Form == WeightStorage.NBits) m.OpsetImports.Add(new OpsetId("com.microsoft", 1));
        var forms = new ExportForms(g, 21);
        int tensorIndex = 0;

        Value Op(string op, Value?[] inputs, params Attribute[] attrs) => g.Append(new Node("", op, inputs, 1, attrs)).Output();
        Value Ints(params long[] v) => g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [v.Length], v), "shape");
        Value Scalar(float v) => g.AddInitializer(Tensor.FromArray(null, DataType.Float, [], new[] { v }), "c");
        Value Weight(string name, long k, long n, bool ternary)
        {
            ulong seed = s.Seed * 1_000_003UL + (ulong)tensorIndex++;
            long count = k * n;
            var data = new DeferredTensorData(count * 4, bytes => Fill(MemoryMarshal.Cast<byte, float>(bytes), seed, ternary));
            return g.AddInitializer(new Tensor(name, DataType.Float, [k, n], data), name);
        }
        // A ternary projection x @ W (W [k, n]) in the requested storage form, its data produced while written.
        Value Linear(Value x, string name, long k, long n)
        {
            if (!s.Ternary || s.Form == WeightStorage.Float) return Op("MatMul", [x, Weight(name, k, n, s.Ternary)]);
            ulong seed = s.Seed * 1_000_003UL + (ulong)tensorIndex++;
            switch (s.Form)
            {
                case WeightStorage.Online:
                {
                    var master = new DeferredTensorData(n * k * 2, bytes => FillMaster(MemoryMarshal.Cast<byte, ushort>(bytes), seed));
                    return forms.OnlineQuantizedLinear(x, g.AddInitializer(new Tensor(name, DataType.BFloat16, [n, k], master), name), name, new OnlineQuant());
                }
                case WeightStorage.Packed:
                {
                    var packed = new DeferredTensorData(n / 4 * k, bytes => FillCodes(bytes, seed, TwoBitTrits));
                    var y = forms.MatMul(x, forms.UnpackedWeight(g.AddInitializer(new Tensor(name, DataType.UInt8, [n / 4, k], packed), name), name, UnpackStyle.BitOps));
                    return Op("Div", [y, g.AddInitializer(Tensor.FromArray(null, DataType.Float, [1], new[] { 40f }), name + "_scale")]);
                }
                default:
                {
                    const int block = 32;
                    long blocks = (k + block - 1) / block;
                    var codes = new DeferredTensorData(n * blocks * block / 2, bytes => FillCodes(bytes, seed, FourBitTrits));
                    var scales = new DeferredTensorData(n * blocks * 4, bytes => MemoryMarshal.Cast<byte, float>(bytes).Fill(0.025f / 7));
                    var b = g.AddInitializer(new Tensor(null, DataType.UInt8, [n, blocks, block / 2], codes), name + ".qweight");
                    var sc = g.AddInitializer(new Tensor(null, DataType.Float, [n * blocks], scales), name + ".scales");
                    return g.Append(new Node("com.microsoft", "MatMulNBits", [x, b, sc], 1,
                        [Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("bits", 4), Attribute.Int("block_size", block)])).Output();
                }
            }
        }
        Value Gamma(string name)
        {
            var v = new float[s.Hidden];
            // A stable hash of the name (string.GetHashCode differs from process to process).
            ulong h = 14695981039346656037UL;
            foreach (char ch in name) h = (h ^ ch) * 1099511628211UL;
            var rng = new SplitMix(s.Seed ^ h);
            for (int i = 0; i < v.Length; i++) v[i] = 0.5f + rng.NextFloat();
            return g.AddInitializer(Tensor.FromArray(name, DataType.Float, [s.Hidden], v), name);
        }
        Value RmsNorm(Value x, string name)
        {
            var sq = Op("Mul", [x, x]);
            var mean = Op("ReduceMean", [sq, Ints(-1)], Attribute.Int("keepdims", 1));
            var rms = Op("Sqrt", [Op("Add", [mean, Scalar(1e-6f)])]);
            return Op("Mul", [Op("Div", [x, rms]), Gamma(name)]);
        }

        var quantized = new Dictionary<Value, Value>();
        Value Quant(Value v)
        {
            if (!s.ActivationQuant) return v;
            if (quantized.TryGetValue(v, out var done)) return done;
            var max = Op("ReduceMax", [Op("Abs", [v]), Ints(-1)], Attribute.Int("keepdims", 1));
            var sc = Op("Div", [Scalar(127f), Op("Clip", [max, Scalar(1e-5f)])]);
            var q = Op("Clip", [Op("Round", [Op("Mul", [v, sc])]), Scalar(-128f), Scalar(127f)]);
            return quantized[v] = Op("Div", [q, sc]);
        }

        var hiddenType = IrType.Tensor(DataType.Float, new Shape([Dim.Of(1), Dim.Symbol("seq"), Dim.Of(s.Hidden)]));
        Value x;
        if (s.Embedding)
        {
            var ids = g.AddInput("input_ids", IrType.Tensor(DataType.Int64, new Shape([Dim.Of(1), Dim.Symbol("seq")])));
            var table = Weight("model.embed_tokens.weight", s.Vocab, s.Hidden, ternary: false);
            x = Op("Gather", [table, ids], Attribute.Int("axis", 0));
        }
        else x = g.AddInput("hidden_states", hiddenType);

        int d = s.HeadDim, group = s.Heads / s.KvHeads;
        var seqLen = Op("Gather", [Op("Shape", [x]), Ints(1)], Attribute.Int("axis", 0));            // [1]
        // Causal additive mask [seq, seq]: 0 where k <= q, -inf above the diagonal.
        var seqScalar = Op("Squeeze", [seqLen, Ints(0)]);
        var r = Op("Range", [g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [], new[] { 0L }), "zero"), seqScalar,
            g.AddInitializer(Tensor.FromArray(null, DataType.Int64, [], new[] { 1L }), "one")]);
        var rows = Op("Unsqueeze", [r, Ints(1)]);
        var cols = Op("Unsqueeze", [r, Ints(0)]);
        var allowed = Op("GreaterOrEqual", [rows, cols]);
        var mask = Op("Where", [allowed, Scalar(0f), Scalar(float.NegativeInfinity)]);
        var scale = Scalar(1f / MathF.Sqrt(d));

        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}";
            var h = RmsNorm(x, $"{p}.input_layernorm.weight");
            var q = Linear(Quant(h), $"{p}.self_attn.q_proj.weight", s.Hidden, s.Heads * d);
            var k = Linear(Quant(h), $"{p}.self_attn.k_proj.weight", s.Hidden, s.KvHeads * d);
            var v = Linear(Quant(h), $"{p}.self_attn.v_proj.weight", s.Hidden, s.KvHeads * d);
            Value Heads(Value t, int heads) =>
                Op("Transpose", [Op("Reshape", [t, Ints(1, -1, heads, d)])], Attribute.Ints("perm", [0, 2, 1, 3]));
            Value Repeat(Value t) => group == 1 ? t
                : Op("Reshape", [Op("Expand", [Op("Unsqueeze", [t, Ints(2)]), Ints(1, s.KvHeads, group, 1, 1)]), Ints(1, s.Heads, -1, d)]);
            var qh = Heads(q, s.Heads);
            var kh = Repeat(Heads(k, s.KvHeads));
            var vh = Repeat(Heads(v, s.KvHeads));
            var scores = Op("Add", [Op("Mul", [Op("MatMul", [qh, Op("Transpose", [kh], Attribute.Ints("perm", [0, 1, 3, 2]))]), scale]), mask]);
            var probs = Op("Softmax", [scores], Attribute.Int("axis", -1));
            var ctx = Op("Reshape", [Op("Transpose", [Op("MatMul", [probs, vh])], Attribute.Ints("perm", [0, 2, 1, 3])), Ints(1, -1, s.Heads * d)]);
            var attn = Linear(Quant(ctx), $"{p}.self_attn.o_proj.weight", s.Heads * d, s.Hidden);
            x = Op("Add", [x, attn]);
            var h2 = RmsNorm(x, $"{p}.post_attention_layernorm.weight");
            var gate = Linear(Quant(h2), $"{p}.mlp.gate_proj.weight", s.Hidden, s.Ffn);
            var up = Linear(Quant(h2), $"{p}.mlp.up_proj.weight", s.Hidden, s.Ffn);
            var act = Op("Mul", [Op("Mul", [gate, Op("Sigmoid", [gate])]), up]);
            var down = Linear(Quant(act), $"{p}.mlp.down_proj.weight", s.Ffn, s.Hidden);
            x = Op("Add", [x, down]);
        }
        x = RmsNorm(x, "model.norm.weight");
        Value output;
        if (s.Embedding)
        {
            output = Op("MatMul", [x, Weight("lm_head.weight", s.Hidden, s.Vocab, ternary: false)]);
            g.Rename(output, "logits");
            output.Type = IrType.Tensor(DataType.Float, new Shape([Dim.Of(1), Dim.Symbol("seq"), Dim.Of(s.Vocab)]));
        }
        else
        {
            output = Op("Identity", [x]);
            g.Rename(output, "output_hidden_states");
            output.Type = hiddenType;
        }
        g.Outputs.Add(output);
        return m;
    }

    /// <summary>
    /// Values of one weight. Ternary: trits with about a third zeros times BitNet's absmean-style
    /// per-tensor scale. Dense: small uniform floats. Deterministic from the seed, and fast enough
    /// that generating 10 GB is bounded by the disk, not by this loop.
    /// </summary>
    private static void Fill(Span<float> values, ulong seed, bool ternary)
    {
        long count = values.Length;
        var rng = new SplitMix(seed);
        float scale = 0.02f + 0.01f * rng.NextFloat();
        if (ternary)
        {
            for (long i = 0; i < count; i += 16)
            {
                ulong bits = rng.Next();
                long end = Math.Min(count, i + 16);
                for (long j = i; j < end; j++, bits >>= 4)
                {
                    // 4 random bits: 0-4 -> -1 (5/16), 5-10 -> 0 (6/16), 11-15 -> +1 (5/16).
                    uint b = (uint)(bits & 15);
                    values[(int)j] = b < 5 ? -scale : b < 11 ? 0f : scale;
                }
            }
        }
        else
        {
            for (int i = 0; i < values.Length; i++) values[i] = (rng.NextFloat() - 0.5f) * 0.04f;
        }
    }

    /// <summary>Latent master weights: roughly N(0, 0.02) as bfloat16 bits (the mean of |W| sets the scale).</summary>
    private static void FillMaster(Span<ushort> values, ulong seed)
    {
        var rng = new SplitMix(seed);
        for (int i = 0; i < values.Length; i++)
        {
            // The sum of two uniforms is triangular: close enough to a Gaussian for a weight's shape.
            float v = (rng.NextFloat() + rng.NextFloat() - 1f) * 0.035f;
            values[i] = (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16);
        }
    }

    /// <summary>Bytes of four 2-bit codes each in {0, 1, 2} (trit + 1): the 81 such bytes.</summary>
    private static readonly byte[] TwoBitTrits = Enumerable.Range(0, 256).Where(b => (b & 3) < 3 && (b >> 2 & 3) < 3 && (b >> 4 & 3) < 3 && (b >> 6) < 3).Select(b => (byte)b).ToArray();
    /// <summary>Bytes of two 4-bit codes each in {1, 8, 15} (zero point 8, plus/minus 7): the 9 such bytes.</summary>
    private static readonly byte[] FourBitTrits = (from lo in new[] { 1, 8, 15 } from hi in new[] { 1, 8, 15 } select (byte)(lo | hi << 4)).ToArray();

    private static void FillCodes(Span<byte> bytes, ulong seed, byte[] choices)
    {
        var rng = new SplitMix(seed);
        for (int i = 0; i < bytes.Length; i += 8)
        {
            ulong r = rng.Next();
            for (int j = i; j < Math.Min(bytes.Length, i + 8); j++, r >>= 8) bytes[j] = choices[(int)(r & 0xFF) % choices.Length];
        }
    }

    public static SaveResult Write(DecoderShape s, string path, int alignment = 4096) =>
        ModelSerializer.Save(Build(s), path, new SaveOptions { ExternalData = s.Inline ? ExternalDataMode.Never : ExternalDataMode.Always, Alignment = alignment });
}

/// <summary>SplitMix64: a tiny, fast, deterministic generator (the output must not depend on the runtime's Random).</summary>
internal struct SplitMix(ulong seed)
{
    private ulong _state = seed;
    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
    public float NextFloat() => (Next() >> 40) * (1f / (1 << 24));
}
