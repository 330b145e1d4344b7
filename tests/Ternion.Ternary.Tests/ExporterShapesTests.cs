using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes.Ternary;
using Ternion.TestSupport;

namespace Ternion.Ternary.Tests;

/// <summary>What real exporters hand over: int8 + DequantizeLinear weights, contrib ops, symbolic dims, already-packed models.</summary>
public class ExporterShapesTests
{
    /// <summary>X [batch, K] (symbolic batch) -> MatMul(X, DequantizeLinear(W_int8, scale)) -> com.microsoft::Gelu -> Y.</summary>
    private static Model DequantizedModel(int k, int n, bool perChannel)
    {
        var g = new Graph { Name = "dq" };
        var m = new Model(g) { IrVersion = 8 };
        m.OpsetImports.Add(new OpsetId("", 17));
        m.OpsetImports.Add(new OpsetId("com.microsoft", 1));
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, new Shape([Dim.Symbol("batch"), Dim.Of(k)])));
        var rng = new Random(5);
        var trits = Enumerable.Range(0, k * n).Select(_ => (sbyte)(rng.Next(3) - 1)).ToArray();
        var w = g.AddInitializer(Tensor.FromArray("w_q", DataType.Int8, [k, n], trits));
        var scale = perChannel
            ? g.AddInitializer(Tensor.FromArray("w_scale", DataType.Float, [n], Enumerable.Range(0, n).Select(i => 0.01f + i * 0.001f).ToArray()))
            : g.AddInitializer(Tensor.FromArray("w_scale", DataType.Float, [], new[] { 0.05f }));
        var dq = g.Append(new Node("", "DequantizeLinear", [w, scale], 1, perChannel ? [Attribute.Int("axis", 1)] : null));
        var mm = g.Append(new Node("", "MatMul", [x, dq.Output()], 1));
        var gelu = g.Append(new Node("com.microsoft", "Gelu", [mm.Output()], 1));
        var y = gelu.Output();
        g.Rename(y, "y");
        y.Type = IrType.Tensor(DataType.Float, new Shape([Dim.Symbol("batch"), Dim.Of(n)]));
        g.Outputs.Add(y);
        return m;
    }

    [Theory]
    [InlineData(false, "fallback")]
    [InlineData(true, "fallback")]
    [InlineData(true, "folded")]
    [InlineData(false, "ort-nbits")]
    public void Int8WeightsBehindDequantizeLinearArePackedAndContribOpsPassThrough(bool perChannel, string target)
    {
        using var dir = new TempDir("dq");
        ModelSerializer.Save(DequantizedModel(700, 32, perChannel), dir.File("o.onnx"));
        var r = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("c.onnx"), Target = target, CheckInvariants = true });
        var w = Assert.Single(r.Report.TernaryWeights);
        Assert.Equal(perChannel ? "per-channel" : "per-tensor", w.ScaleKind);
        var compiled = ModelSerializer.Load(dir.File("c.onnx"));
        Assert.DoesNotContain(compiled.AllNodes(), n => n.OpType == "DequantizeLinear");
        Assert.Single(compiled.AllNodes(), n => n.QualifiedOp == "com.microsoft::Gelu");
        // ORT's extended optimizations rewrite the original's DequantizeLinear -> MatMul into an
        // approximate quantized kernel (about 20% off here); basic optimizations keep ONNX's exact meaning.
        var v = ModelVerifier.Verify(dir.File("o.onnx"), dir.File("c.onnx"), new VerifyOptions
        {
            Dims = new Dictionary<string, long> { ["batch"] = 3 }, Rtol = 1e-5, Atol = 1e-6,
            Ort = new OrtRunOptions { Optimization = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC },
        });
        Assert.True(v.Ok, string.Join("; ", v.Outputs));
        if (target == "folded")
        {
            // Outputs are not compared bit for bit here: ORT keeps the original's DequantizeLinear out of
            // constant folding, so its MatMul reads B at run time through another kernel. The weights are exact.
            var o = ModelSerializer.Load(dir.File("o.onnx"));
            var q = o.Graph.Initializers.Single(x => x.Name == "w_q").Initializer!.ToArray<sbyte>();
            var s = o.Graph.Initializers.Single(x => x.Name == "w_scale").Initializer!.ToArray<float>();
            var folded = compiled.Graph.Initializers.Single(x => x.Initializer!.DataType == DataType.Float && x.Initializer.Dims.Length == 2).Initializer!.ToArray<float>();
            for (int i = 0; i < q.Length; i++) Assert.Equal(q[i] * s[s.Length == 1 ? 0 : i % s.Length], folded[i]);
        }
    }

    [Fact]
    public void Int8WeightsWithANonZeroZeroPointStayDense()
    {
        var m = DequantizedModel(700, 32, perChannel: false);
        var dq = m.Graph.Nodes.First(n => n.OpType == "DequantizeLinear");
        dq.AppendInput(m.Graph.AddInitializer(Tensor.FromArray("w_zp", DataType.Int8, [], new sbyte[] { 1 })));
        using var dir = new TempDir("dqzp");
        ModelSerializer.Save(m, dir.File("o.onnx"));
        var r = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("c.onnx") });
        Assert.Empty(r.Report.TernaryWeights);
        // (q - 1) * s with q in {-1, 0, 1} is {-2s, -s, 0}: not ternary, and the report says so about w_q.
        var rejected = Assert.Single(r.Report.Rejected, x => x.Name == "w_q");
        Assert.Equal("dequantize-linear", rejected.Source);
        Assert.Matches("not 0 or ±|differ from 0 and ±", rejected.Reason);
    }

    [Fact]
    public void APackedModelCompilesBackToFoldedAndToFallback()
    {
        // Original -> native without a fallback body (TTF1 weights, TernaryDecode with no body) -> folded / fallback.
        using var dir = new TempDir("reverse");
        var original = WeightModels.MatMulGemmModel(700, 40, DataType.Float, ScaleKind.PerChannel);
        ModelSerializer.Save(original, dir.File("o.onnx"));
        TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("native.onnx"), Target = "native", FallbackBody = false });
        var native = ModelSerializer.Load(dir.File("native.onnx"));
        Assert.Empty(native.Functions);
        Assert.Equal(2, native.AllNodes().Count(TernaryDecodeOp.Is));

        var folded = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("native.onnx"), OutputPath = dir.File("folded.onnx"), Target = "folded", CheckInvariants = true });
        Assert.Empty(folded.Report.TernaryWeights); // nothing new to pack: the weights were already TTF1
        var f = ModelSerializer.Load(dir.File("folded.onnx"));
        Assert.DoesNotContain(f.AllNodes(), TernaryDecodeOp.Is);
        var exact = ModelVerifier.Verify(dir.File("o.onnx"), dir.File("folded.onnx"), new VerifyOptions { Exact = true });
        Assert.True(exact.Ok, string.Join("; ", exact.Outputs));

        TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("native.onnx"), OutputPath = dir.File("fallback.onnx"), Target = "fallback", CheckInvariants = true });
        var fb = ModelSerializer.Load(dir.File("fallback.onnx"));
        Assert.Single(fb.Functions, fn => fn.Name == "TernaryDecode");
        var close = ModelVerifier.Verify(dir.File("o.onnx"), dir.File("fallback.onnx"));
        Assert.True(close.Ok, string.Join("; ", close.Outputs));
    }

    [Fact]
    public void AReservedByteInAPackedWeightIsAnErrorNamingTensorAndOffset()
    {
        using var dir = new TempDir("reserved");
        ModelSerializer.Save(WeightModels.MatMulGemmModel(700, 40, DataType.Float, ScaleKind.PerTensor), dir.File("o.onnx"));
        TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("p.onnx"), Target = "fallback", ExternalData = ExternalDataMode.Never });
        var m = ModelSerializer.Load(dir.File("p.onnx"));
        var packed = m.Graph.Initializers.First(v => v.Name == "w1.ttf1");
        byte[] bytes;
        using (var b = packed.Initializer!.Data.Open()) bytes = b.Span.ToArray();
        bytes[1000] = 250; // reserved (243..255)
        packed.Initializer.Data = new MemoryTensorData(bytes);
        ModelSerializer.Save(m, dir.File("bad.onnx"));
        var e = Assert.ThrowsAny<TernionException>(() =>
            TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("bad.onnx"), OutputPath = dir.File("out.onnx"), Target = "folded" }));
        Assert.Contains("w1.ttf1", e.Message);
        Assert.Contains("1000", e.Message);
        Assert.False(File.Exists(dir.File("out.onnx")));
    }
}
