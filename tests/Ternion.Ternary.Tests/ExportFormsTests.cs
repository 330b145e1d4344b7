using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Ternary;
using Ternion.SampleGen;
using Ternion.TestSupport;
using static Ternion.Ternary.Tests.FormModel;

namespace Ternion.Ternary.Tests;

/// <summary>
/// Ternary weights in every form real exporters write them (issue 12): master weights quantized by
/// a subgraph, HF BitNet's packed uint8, float16/bfloat16 behind Cast, MatMulNBits and
/// DequantizeLinear. For each form and target: exactly the expected weights are packed (decoys stay
/// dense), what computed them is gone, and ONNX Runtime gives the original's outputs (bit for bit
/// for `folded`).
/// </summary>
public class ExportFormsTests
{
    public static TheoryData<string> Targets => new() { "fallback", "native", "ort-nbits", "folded" };

    /// <summary>Verifies the compiled model against the original on ORT; returns the report.</summary>
    private static (CompileReport Report, Model Compiled) CompileAndVerify(FormModel m, string target, bool exactFolded = true, bool foldDequantize = false)
    {
        using var dir = new TempDir("forms");
        string original = dir.File("original.onnx"), compiled = dir.File("compiled.onnx");
        ModelSerializer.Save(m.Model, original);
        var r = TernionCompiler.Compile(new CompileRequest { InputPath = original, OutputPath = compiled, Target = target, CheckInvariants = true });
        var ort = foldDequantize
            // ORT keeps DequantizeLinear of initializers out of constant folding for its quantized kernels unless told not to.
            ? new OrtRunOptions { ConfigEntries = new Dictionary<string, string> { ["session.disable_quant_qdq"] = "1" } }
            : new OrtRunOptions();
        // MatMulNBits sums in its own block order: next to products of about 20, 1e-5 absolute is rounding.
        double atol = target == "ort-nbits" ? 1e-4 : 1e-6;
        var v = ModelVerifier.Verify(original, compiled, new VerifyOptions { Exact = target == "folded" && exactFolded, Seed = 3, Ort = ort, Atol = atol });
        Assert.True(v.Ok, $"{target}: " + string.Join("; ", v.Outputs));
        var c = ModelSerializer.Load(compiled);
        if (target == "folded") Assert.DoesNotContain(c.AllNodes(), n => n.DomainName == "com.ternion");
        if (target is "fallback" or "native") Assert.Equal(r.Report.TernaryWeights.Count, c.AllNodes().Count(TernaryDecodeOp.Is));
        return (r.Report, c);
    }

    /// <summary>The stored tensor each packed weight came from, with its form.</summary>
    private static List<(string Tensor, string Source)> Packed(CompileReport r) =>
        r.TernaryWeights.Select(w => (w.SourceTensor ?? w.Name, w.Source)).OrderBy(p => p.Item1, StringComparer.Ordinal).ToList();

    [Theory]
    [MemberData(nameof(Targets))]
    public void MasterWeightsQuantizedOnlineArePackedAndTheMastersGo(string target)
    {
        var m = new FormModel();
        var f = m.Forms;
        // Per tensor, scale on the weight: torch.onnx's unfolded weight_quant.
        m.Output(f.OnlineQuantizedLinear(m.X, m.Floats("a.weight", [N, K], Master(N, K, 1)), "a", new OnlineQuant()), "ya");
        // Per output channel (ReduceMean over the input axis).
        m.Output(f.OnlineQuantizedLinear(m.X, m.Floats("b.weight", [N, K], Master(N, K, 2, perRowGain: true)), "b", new OnlineQuant { PerChannel = true }), "yb");
        // Scale applied after the MatMul, 1/x as Reciprocal: the operand is the bare trits.
        m.Output(f.OnlineQuantizedLinear(m.X, m.Floats("c.weight", [N, K], Master(N, K, 3)), "c", new OnlineQuant { ScaleAfterMatMul = true, Reciprocal = true }), "yc");
        // Per channel, after the product, through Gemm(transB=1).
        m.Output(f.OnlineQuantizedLinear(m.X, m.Floats("d.weight", [N, K], Master(N, K, 4, perRowGain: true)), "d",
            new OnlineQuant { PerChannel = true, ScaleAfterMatMul = true, Gemm = true }), "yd");
        // A bfloat16 master weight, cast to float first.
        var bf = m.Initializer("e.weight", DataType.BFloat16, [N, K], LowPrecision.BFloat16(Master(N, K, 5)));
        m.Output(f.OnlineQuantizedLinear(m.X, bf, "e", new OnlineQuant()), "ye");
        // Decoy: a master weight used as it is (dense).
        m.Output(f.MatMul(m.X, m.Floats("dense.weight", [K, N], Master(K, N, 6))), "ydense");
        // Decoy: a master quantized, but no MatMul reads the result (it is summed into an output).
        var (unused, _) = f.OnlineQuantizedWeight(m.Floats("unused.weight", [N, K], Master(N, K, 7)), "unused", new OnlineQuant());
        var sum = m.Graph.Append(new Node("", "ReduceSum", [unused], 1, [Attribute.Int("keepdims", 0)])).Output();
        m.Graph.Rename(sum, "unused_sum");
        sum.Type = IrType.Tensor(DataType.Float, new Shape());
        m.Graph.Outputs.Add(sum);
        // Tied: a master quantized for one layer and read directly by another; it must stay.
        var tied = m.Floats("tied.weight", [N, K], Master(N, K, 8));
        m.Output(f.OnlineQuantizedLinear(m.X, tied, "tied", new OnlineQuant()), "ytied_q");
        m.Output(f.MatMul(m.X, m.Graph.Append(new Node("", "Transpose", [tied], 1, [Attribute.Ints("perm", [1, 0])])).Output()), "ytied_dense");

        var (r, compiled) = CompileAndVerify(m, target);
        Assert.Equal([("a.weight", "weight-subgraph"), ("b.weight", "weight-subgraph"), ("c.weight", "weight-subgraph"),
            ("d.weight", "weight-subgraph"), ("e.weight", "weight-subgraph"), ("tied.weight", "weight-subgraph")], Packed(r));
        Assert.All(r.TernaryWeights, w => Assert.Contains("ReduceMean", w.SourceOps));
        Assert.Equal("per-channel", r.TernaryWeights.Single(w => w.SourceTensor == "b.weight").ScaleKind);
        Assert.Equal("per-tensor", r.TernaryWeights.Single(w => w.SourceTensor == "c.weight").ScaleKind);
        Assert.Equal(1, r.TernaryWeights.Single(w => w.SourceTensor == "d.weight").Axis); // Gemm transB=1 reads [N, K]
        var c = compiled;
        var names = c.Graph.Initializers.Select(v => v.Name).ToHashSet();
        // The masters are gone (nothing reads them), except the tied one and the decoys.
        Assert.DoesNotContain("a.weight", names);
        Assert.DoesNotContain("e.weight", names);
        Assert.Contains("tied.weight", names);
        Assert.Contains("dense.weight", names);
        Assert.Contains("unused.weight", names);
        // No Round is left but the unused decoy's: the quantization subgraphs went with their masters.
        Assert.Single(c.AllNodes(), n => n.OpType == "Round");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void HfBitNetPackedUInt8WeightsAreUnpackedAtCompileTime(string target)
    {
        var m = new FormModel();
        var f = m.Forms;
        // BitOps unpack, weight_scale applied after the MatMul (as HF's BitLinear does).
        var ta = Trits(N, K, 11);
        var pa = m.Initializer("a.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(ta, N, K));
        var ya = f.MatMul(m.X, f.UnpackedWeight(pa, "a", UnpackStyle.BitOps));
        var scale = m.Floats("a.weight_scale", [1], [12.5f]);
        m.Output(m.Graph.Append(new Node("", "Div", [ya, scale], 1)).Output(), "ya");
        // BitOps unpack times a per-channel scale [N, 1] before the transpose.
        var pb = m.Initializer("b.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(Trits(N, K, 12), N, K));
        var sb = m.Floats("b.scale", [N, 1], Enumerable.Range(0, N).Select(i => 0.01f + 0.001f * i).ToArray());
        m.Output(f.MatMul(m.X, f.UnpackedWeight(pb, "b", UnpackStyle.BitOps, sb)), "yb");
        // Div/Mod on an int32 cast.
        var pc = m.Initializer("c.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(Trits(N, K, 13), N, K));
        m.Output(f.MatMul(m.X, f.UnpackedWeight(pc, "c", UnpackStyle.DivMod)), "yc");
        // Decoy: one 2-bit code is 3, which unpacks to 2: not ternary.
        var bad = ExportForms.PackHfBitNet(Trits(N, K, 14), N, K);
        bad[5] |= 0b11;
        var pd = m.Initializer("decoy.weight", DataType.UInt8, [N / 4, K], bad);
        m.Output(f.MatMul(m.X, f.UnpackedWeight(pd, "decoy", UnpackStyle.BitOps)), "ydecoy");

        var (r, compiled) = CompileAndVerify(m, target);
        Assert.Equal([("a.weight", "packed-uint8"), ("b.weight", "packed-uint8"), ("c.weight", "packed-uint8")], Packed(r));
        Assert.Equal("per-tensor", r.TernaryWeights.Single(w => w.SourceTensor == "a.weight").ScaleKind);
        Assert.Equal("per-channel", r.TernaryWeights.Single(w => w.SourceTensor == "b.weight").ScaleKind);
        var decoy = Assert.Single(r.Rejected, x => x.Name == "decoy.weight");
        Assert.Equal("packed-uint8", decoy.Source);
        Assert.Contains("1 of 33,600 elements is not 0 or ±1: 2", decoy.Reason);
        var names = compiled.Graph.Initializers.Select(v => v.Name).ToHashSet();
        Assert.DoesNotContain("a.weight", names);
        Assert.Contains("a.weight_scale", names); // still read by the Div after the MatMul
        Assert.Contains("decoy.weight", names);
        Assert.Equal(4, compiled.AllNodes().Count(n => n.OpType == "BitShift")); // the decoy's unpacking only
    }

    /// <summary>
    /// HF BitNet's layout is transcoded straight from the packed bytes; evaluating its subgraph must
    /// give the same file, scales of every sign and all-zero channels included.
    /// </summary>
    [Fact]
    public void TheDirectHfTranscodeWritesWhatEvaluatingTheSubgraphWrites()
    {
        var m = new FormModel();
        var f = m.Forms;
        m.Output(f.MatMul(m.X, f.UnpackedWeight(m.Initializer("a.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(Trits(N, K, 51), N, K)), "a", UnpackStyle.BitOps)), "ya");
        var trits = Trits(N, K, 52);
        Array.Clear(trits, 5 * K, K); // an all-zero channel
        var scales = Enumerable.Range(0, N).Select(i => (i % 3 == 0 ? -1 : 1) * (0.01f + 0.001f * i)).ToArray(); // some negative
        scales[7] = 0f;
        m.Output(f.MatMul(m.X, f.UnpackedWeight(m.Initializer("b.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(trits, N, K)), "b", UnpackStyle.BitOps,
            m.Floats("b.scale", [N, 1], scales))), "yb");
        m.Output(f.MatMul(m.X, f.UnpackedWeight(m.Initializer("c.weight", DataType.UInt8, [N / 4, K], ExportForms.PackHfBitNet(Trits(N, K, 53), N, K)), "c", UnpackStyle.BitOps,
            m.Floats("c.scale", [], [-0.25f]))), "yc");
        using var dir = new TempDir("direct");
        ModelSerializer.Save(m.Model, dir.File("o.onnx"));
        Directory.CreateDirectory(dir.File("direct"));
        Directory.CreateDirectory(dir.File("evaluated"));
        foreach (var target in new[] { "native", "folded" })
        {
            // Same file name in two folders: the data file's name is written into the model.
            var direct = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("direct/c.onnx"), Target = target });
            var evaluated = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("evaluated/c.onnx"), Target = target, DirectTranscode = false });
            Assert.Equal(3, direct.Report.TernaryWeights.Count);
            Assert.Equal(evaluated.Report.TernaryWeights.Select(w => (w.Name, w.ScaleKind)), direct.Report.TernaryWeights.Select(w => (w.Name, w.ScaleKind)));
            Assert.Equal(File.ReadAllBytes(dir.File("evaluated/c.onnx")), File.ReadAllBytes(dir.File("direct/c.onnx")));
            Assert.Equal(File.Exists(dir.File("evaluated/c.onnx.data")), File.Exists(dir.File("direct/c.onnx.data")));
            if (File.Exists(dir.File("evaluated/c.onnx.data")))
                Assert.Equal(File.ReadAllBytes(dir.File("evaluated/c.onnx.data")), File.ReadAllBytes(dir.File("direct/c.onnx.data")));
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Float16AndBFloat16WeightsBehindCastArePacked(string target)
    {
        var m = new FormModel();
        var f = m.Forms;
        var ta = Scaled(Trits(K, N, 21), K, N, [0.0375f]);
        m.Output(f.MatMul(m.X, f.CastWeight(m.Initializer("a.weight", DataType.Float16, [K, N], LowPrecision.Float16(ta)))), "ya");
        var scalesB = Enumerable.Range(0, N).Select(i => 0.01f + 0.0005f * i).ToArray();
        var tb = Scaled(Trits(N, K, 22), N, K, scalesB.Select(s => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(s) & 0xFFFF0000)).ToArray());
        m.Output(f.MatMul(m.X, f.CastTransposedWeight(m.Initializer("b.weight", DataType.BFloat16, [N, K], LowPrecision.BFloat16(tb)))), "yb");
        var tc = Scaled(Trits(K, N, 23), K, N, [0.0625f]);
        m.Output(f.MatMul(m.X, f.CastReshapedWeight(m.Initializer("c.weight", DataType.Float16, [K * N], LowPrecision.Float16(tc)), K, N)), "yc");
        // Decoy: float16 ternary but one element at half the scale.
        var td = Scaled(Trits(K, N, 24), K, N, [0.0375f]);
        td[Array.FindIndex(td, v => v != 0)] /= 2;
        m.Output(f.MatMul(m.X, f.CastWeight(m.Initializer("decoy.weight", DataType.Float16, [K, N], LowPrecision.Float16(td)))), "ydecoy");

        var (r, compiled) = CompileAndVerify(m, target);
        Assert.Equal([("a.weight", "weight-subgraph"), ("b.weight", "weight-subgraph"), ("c.weight", "weight-subgraph")], Packed(r));
        Assert.Equal(["Cast", "Transpose"], r.TernaryWeights.Single(w => w.SourceTensor == "b.weight").SourceOps);
        Assert.Equal("per-channel", r.TernaryWeights.Single(w => w.SourceTensor == "b.weight").ScaleKind);
        Assert.All(r.TernaryWeights, w => Assert.Equal("float32", w.DType));
        Assert.Matches(@"^'.*' computed from it: .*1 of 33,600 elements is not 0 or ±0\.0375", Assert.Single(r.Rejected, x => x.Name == "decoy.weight").Reason);
        // The low-precision tensors went with their casts; the decoy's stays.
        Assert.Equal(["decoy.weight"], compiled.Graph.Initializers.Where(v => v.Initializer!.DataType is DataType.Float16 or DataType.BFloat16).Select(v => v.Name));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void TernaryMatMulNBitsWeightsAreTranscodedLosslessly(string target)
    {
        var m = new FormModel();
        var f = m.Forms;
        NBitsWeight Quantize(int seed, int bits, bool zp, bool perChannel = false)
        {
            var scales = perChannel ? Enumerable.Range(0, N).Select(i => 0.01f + 0.001f * i).ToArray() : [0.0375f];
            return ExportForms.QuantizeNBits(Scaled(Trits(N, K, seed), N, K, scales), N, K, bits, 32, zp);
        }
        m.Output(f.MatMulNBits(m.X, Quantize(31, 4, zp: false), "int4"), "y4");
        m.Output(f.MatMulNBits(m.X, Quantize(32, 4, zp: true, perChannel: true), "int4zp"), "y4zp");
        m.Output(f.MatMulNBits(m.X, Quantize(33, 2, zp: false), "int2"), "y2");
        m.Output(f.MatMulNBits(m.X, Quantize(34, 8, zp: false, perChannel: true), "int8"), "y8");
        // Decoy: a row whose blocks have different scales (one block at twice the magnitude).
        var w = Scaled(Trits(N, K, 35), N, K, [0.0375f]);
        for (int c = 64; c < 96; c++) w[3 * K + c] *= 2;
        m.Output(f.MatMulNBits(m.X, ExportForms.QuantizeNBits(w, N, K, 4, 32, false), "decoy"), "ydecoy");
        m.Model.OpsetImports.Add(new OpsetId("com.microsoft", 1));

        // MatMulNBits computes with its own kernel, so no target can be bit-identical to it; the weights are.
        var (r, compiled) = CompileAndVerify(m, target, exactFolded: false);
        Assert.Equal([("int2.qweight", "matmulnbits"), ("int4.qweight", "matmulnbits"), ("int4zp.qweight", "matmulnbits"), ("int8.qweight", "matmulnbits")], Packed(r));
        Assert.Equal("per-channel", r.TernaryWeights.Single(x => x.Name == "int8.qweight").ScaleKind);
        Assert.All(r.TernaryWeights, x => Assert.Equal([K, N], x.Shape));
        var decoy = Assert.Single(r.Rejected, x => x.Name == "decoy.qweight");
        Assert.Equal("matmulnbits", decoy.Source);
        Assert.Contains("not ternary", decoy.Reason);
        Assert.Equal(target == "ort-nbits" ? 5 : 1, compiled.AllNodes().Count(n => n.OpType == "MatMulNBits"));
        // The quantized blobs and scales went with their nodes; the decoy's stay.
        Assert.Equal(["decoy.qweight", "decoy.scales"], compiled.Graph.Initializers.Select(v => v.Name).Where(n => n.EndsWith(".qweight") || n.EndsWith(".scales") || n.EndsWith(".qzeros")).Order(StringComparer.Ordinal));
        if (target == "folded")
        {
            // The folded weight is the dequantized one exactly: (q - zp) * scale for every element.
            var q = Quantize(31, 4, zp: false);
            var folded = compiled.Graph.Initializers.Single(v => v.Name == "int4.qweight.dequantized").Initializer!.ToArray<float>();
            for (int n = 0; n < N; n++)
                for (int k = 0; k < K; k++)
                {
                    int blk = k / 32, e = k % 32;
                    int code = (q.Codes[(n * q.Blocks + blk) * q.BlobBytes + e / 2] >> (e % 2 * 4)) & 15;
                    Assert.Equal((code - 8) * q.Scales[n * q.Blocks + blk], folded[k * N + n]);
                }
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void DequantizeLinearOfEveryIntegerTypeAndScaleLayoutIsPacked(string target)
    {
        var m = new FormModel();
        var f = m.Forms;
        // uint8 with zero point 1, per tensor.
        var ta = Trits(K, N, 41);
        var qa = m.Initializer("a.q", DataType.UInt8, [K, N], ta.Select(t => (byte)(t + 1)).ToArray());
        m.Output(f.MatMul(m.X, f.Dequantize(qa, m.Floats("a.scale", [], [0.05f]), f.Constant("a.zp", DataType.UInt8, [], (byte)1))), "ya");
        // int8 [N, K], one scale per row (axis 0), then Transpose.
        var tb = Trits(N, K, 42);
        var qb = m.Initializer("b.q", DataType.Int8, [N, K], tb.Select(t => (byte)t).ToArray());
        var sb = m.Floats("b.scale", [N], Enumerable.Range(0, N).Select(i => 0.02f + 0.001f * i).ToArray());
        var db = f.Dequantize(qb, sb, null, axis: 0);
        var bT = m.Graph.Append(new Node("", "Transpose", [db], 1, [Attribute.Ints("perm", [1, 0])])).Output();
        m.Output(f.MatMul(m.X, bT), "yb");
        // The same computed weight read by a second MatMul: one packed weight serves both.
        m.Output(f.MatMul(m.Graph.Append(new Node("", "Neg", [m.X], 1)).Output(), bT), "yb2");
        // int4 [K, N], blocked along K (block 32), one scale per column repeated over the blocks.
        var tc = Trits(K, N, 43);
        int blocks = (K + 31) / 32;
        var colScale = Enumerable.Range(0, N).Select(i => 0.03f + 0.0005f * i).ToArray();
        var sc = new float[blocks * N];
        for (int b = 0; b < blocks; b++) for (int n = 0; n < N; n++) sc[b * N + n] = colScale[n];
        m.Output(f.MatMul(m.X, f.Dequantize(m.Initializer("c.q", DataType.Int4, [K, N], PackNibbles(tc.Select(t => (int)t))),
            m.Floats("c.scale", [blocks, N], sc), null, axis: 0, blockSize: 32)), "yc");
        // uint4 [K, N] per column (axis 1) with zero point 8.
        var td = Trits(K, N, 44);
        m.Output(f.MatMul(m.X, f.Dequantize(m.Initializer("d.q", DataType.UInt4, [K, N], PackNibbles(td.Select(t => t * 7 + 8))),
            m.Floats("d.scale", [N], colScale), m.Initializer("d.zp", DataType.UInt4, [N], PackNibbles(Enumerable.Repeat(8, N))), axis: 1)), "yd");
        // Decoy: int8 with values up to 2.
        var te = Trits(K, N, 45).Select(t => (byte)t).ToArray();
        te[7] = 2;
        m.Output(f.MatMul(m.X, f.Dequantize(m.Initializer("decoy.q", DataType.Int8, [K, N], te), m.Floats("decoy.scale", [], [0.05f]), null)), "ydecoy");

        var (r, compiled) = CompileAndVerify(m, target, foldDequantize: true);
        Assert.Equal([("a.q", "dequantize-linear"), ("b.q", "dequantize-linear"), ("c.q", "dequantize-linear"), ("d.q", "dequantize-linear")], Packed(r));
        Assert.Equal("per-tensor", r.TernaryWeights.Single(w => w.SourceTensor == "a.q").ScaleKind);
        Assert.All(r.TernaryWeights.Where(w => w.SourceTensor != "a.q"), w => Assert.Equal("per-channel", w.ScaleKind));
        Assert.Equal("dequantize-linear", Assert.Single(r.Rejected, x => x.Name == "decoy.q").Source);
        Assert.Single(compiled.AllNodes(), n => n.OpType == "DequantizeLinear"); // the decoy's
        Assert.Equal(["decoy.q"], compiled.Graph.Initializers.Select(v => v.Name).Where(n => n.EndsWith(".q")));
        if (target is "fallback" or "native")
        {
            var shared = compiled.AllNodes().Single(n => TernaryDecodeOp.Is(n) && n.Input(0)!.Name.StartsWith("b.q", StringComparison.Ordinal));
            Assert.Equal(2, shared.Output().Uses.Count);
        }
    }

    [Fact]
    public void CandidatesAreCountedByFormFromTheStructureAlone()
    {
        // Every weight points into a data file that does not exist: reading any byte would throw.
        using var dir = new TempDir("candidates");
        var m = new FormModel(k: 1 << 20);
        var f = m.Forms;
        Value External(string name, DataType t, long[] dims, long offset)
        {
            long bytes = DataTypes.ByteCount(t, Tensor.ElementCountOf(dims));
            return m.Graph.AddInitializer(new Tensor(name, t, dims, new ExternalTensorData(dir.File("w.bin"), "w.bin", offset, bytes, null)), name);
        }
        int k = m.Rows;
        m.Output(f.OnlineQuantizedLinear(m.X, External("master", DataType.Float, [N, k], 0), "q", new OnlineQuant()), "y1");
        m.Output(f.MatMul(m.X, f.UnpackedWeight(External("packed", DataType.UInt8, [N / 4, k], 1L << 30), "u", UnpackStyle.BitOps)), "y2");
        m.Output(f.MatMul(m.X, f.CastWeight(External("half", DataType.Float16, [k, N], 1L << 30))), "y3");
        m.Output(f.MatMul(m.X, External("plain", DataType.Float, [k, N], 0)), "y4");
        m.Output(f.MatMul(m.X, f.Dequantize(External("int8", DataType.Int8, [k, N], 0), m.Floats("s", [], [0.1f]), null)), "y5");
        var counts = Ternion.Passes.Ternary.Sources.WeightCandidates.ByForm(m.Model);
        Assert.False(File.Exists(dir.File("w.bin")));
        Assert.Equal(new SortedDictionary<string, int>(StringComparer.Ordinal)
        {
            ["dequantize-linear"] = 1, ["initializer"] = 1, ["packed-uint8"] = 1, ["weight-subgraph"] = 2,
        }, counts);
    }

    private static byte[] PackNibbles(IEnumerable<int> values)
    {
        var v = values.ToArray();
        var b = new byte[(v.Length + 1) / 2];
        for (int i = 0; i < v.Length; i++) b[i / 2] |= (byte)((v[i] & 15) << (i % 2 * 4));
        return b;
    }
}
