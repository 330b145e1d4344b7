using Microsoft.ML.OnnxRuntime;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.IR.Ternary;
using Ternion.Passes;
using Ternion.Passes.Ternary;
using Ternion.TestSupport;

namespace Ternion.Ternary.Tests;

/// <summary>Element types beyond float32/float16, and the fallback body run at inference time.</summary>
public class WeightTypesTests
{
    [Theory]
    [InlineData(DataType.Float, ScaleKind.PerChannel)]
    [InlineData(DataType.Float16, ScaleKind.PerTensor)]
    [InlineData(DataType.Double, ScaleKind.PerChannel)]
    public void FallbackBodyComputesTheWeightsWhenOnnxRuntimeDoesNotFoldThem(DataType type, ScaleKind kind)
    {
        using var dir = new TempDir("nofold");
        var original = WeightModels.MatMulGemmModel(700, 24, type, kind);
        ModelSerializer.Save(original, dir.File("o.onnx"));
        TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("c.onnx"), Target = "fallback", CheckInvariants = true });
        // With graph optimizations off, the function body itself decodes the weights on every run.
        var r = ModelVerifier.Verify(dir.File("o.onnx"), dir.File("c.onnx"), new VerifyOptions
        {
            Ort = new OrtRunOptions { Optimization = GraphOptimizationLevel.ORT_DISABLE_ALL },
            Rtol = 1e-5, Atol = type == DataType.Float16 ? 1e-3 : 1e-6,
        });
        Assert.True(r.Ok, string.Join("; ", r.Outputs));
    }

    [Theory]
    [InlineData(DataType.BFloat16, ScaleKind.PerTensor)]
    [InlineData(DataType.BFloat16, ScaleKind.PerChannel)]
    [InlineData(DataType.Double, ScaleKind.PerTensor)]
    [InlineData(DataType.Float16, ScaleKind.PerChannel)]
    [InlineData(DataType.Float, ScaleKind.PerTensor)]
    public void FoldedWeightsAreBitIdenticalToTheOriginals(DataType type, ScaleKind kind)
    {
        using var dir = new TempDir("fold");
        var original = WeightModels.MatMulGemmModel(333, 40, type, kind);
        ModelSerializer.Save(original, dir.File("o.onnx"));
        var result = TernionCompiler.Compile(new CompileRequest { InputPath = dir.File("o.onnx"), OutputPath = dir.File("c.onnx"), Target = "folded", CheckInvariants = true });
        Assert.Equal(2, result.Report.TernaryWeights.Count);
        Assert.All(result.Report.TernaryWeights, w => Assert.Equal(DataTypes.ShortName(type), w.DType));
        var a = ModelSerializer.Load(dir.File("o.onnx")).Graph.Initializers.ToDictionary(v => v.Name, v => v.Initializer!);
        var b = ModelSerializer.Load(dir.File("c.onnx")).Graph.Initializers.ToDictionary(v => v.Name, v => v.Initializer!);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, t) in a)
        {
            using var x = t.Data.Open();
            using var y = b[name].Data.Open();
            Assert.Equal(t.Dims, b[name].Dims);
            Assert.True(x.Span.SequenceEqual(y.Span), $"{name} differs after folding");
        }
    }

    /// <summary>
    /// The fallback body itself, run by ONNX Runtime without folding, for every form it is written
    /// in (opsets 13 and 14 pick the scale with Where, 15 on use CastLike) on a rank-3 weight packed
    /// along its middle axis, so channels span the dims before and after it; per-channel and
    /// per-tensor scales. Expected: trit times its channel's scale, computed here from the trits.
    /// </summary>
    [Theory]
    [InlineData(13, true)]
    [InlineData(14, false)]
    [InlineData(15, true)]
    [InlineData(21, false)]
    public void TheFallbackBodyDecodesARank3WeightAlongItsMiddleAxisInEveryOpset(int opset, bool perChannel)
    {
        long[] shape = [2, 333, 3];
        var layout = new TernaryLayout(shape, 1);
        var rng = new Random(opset);
        var trits = new int[6, 333]; // [channel = p * 3 + q, k]
        for (int c = 0; c < 6; c++) for (int k = 0; k < 333; k++) trits[c, k] = rng.Next(3) - 1;
        float[] scales = perChannel ? [0.5f, 0.25f, 1.5f, 0.125f, 2f, 0.75f] : [0.375f];
        float ScaleOf(int c) => scales[perChannel ? c : 0];
        var values = new float[2 * 333 * 3];
        for (int p = 0; p < 2; p++) for (int k = 0; k < 333; k++) for (int q = 0; q < 3; q++)
            values[(p * 333 + k) * 3 + q] = trits[p * 3 + q, k] * ScaleOf(p * 3 + q);
        var packed = new byte[layout.PackedBytes];
        var result = perChannel ? TernaryCodec.Encode(values, layout, scales, packed) : TernaryCodec.Encode(values, layout, scales[0], packed);
        Assert.True(result.Succeeded, result.Describe("W", layout));

        var g = new Graph { Name = "decode" };
        var model = new Model(g) { IrVersion = 9, ProducerName = "ternion-tests" };
        model.OpsetImports.Add(new OpsetId("", opset));
        model.OpsetImports.Add(new OpsetId(TernaryDecodeOp.Domain, 1));
        var pv = g.AddInitializer(new Tensor("packed", DataType.UInt8, [layout.M, layout.RowBytes], new MemoryTensorData(packed)));
        var sv = g.AddInitializer(Tensor.FromArray("scale", DataType.Float, perChannel ? [6] : [], scales));
        var node = g.Append(TernaryDecodeOp.Create(pv, sv, shape, 1, layout.BlockSize, DataType.Float));
        g.Rename(node.Output(), "W");
        g.Outputs.Add(node.Output());
        model = new PassManager([new AddTernaryDecodeFunction()], new PassManagerOptions { CheckInvariants = true }).Run(model, new PassContext());

        var ort = OrtRunner.Run(ModelSerializer.ToBytes(model), new Dictionary<string, RunValue>(),
            new OrtRunOptions { Optimization = GraphOptimizationLevel.ORT_DISABLE_ALL }).Single().Value;
        Assert.Equal(shape, ort.Dims);
        Assert.Equal(values, ort.ToArray<float>());
    }
}
