using Microsoft.ML.OnnxRuntime;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
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
}
