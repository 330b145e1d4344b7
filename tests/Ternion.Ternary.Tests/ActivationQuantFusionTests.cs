using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;

namespace Ternion.Ternary.Tests;

/// <summary>
/// ort-ttf1 on models that quantize their activations like BitNet b1.58 before each ternary
/// MatMul: the subgraph folds into TernaryMatMulAbsmaxInt8, and the result matches the original
/// model run by ONNX Runtime (its own quantization, then a float MatMul with the dense weight).
/// </summary>
public class ActivationQuantFusionTests
{
    public enum Form { Opset17ClipEps, Opset21MaxEpsSharedByThree, Float16CastAround, FloorNotRound }

    private const int K = 700, N = 48;

    /// <summary>x [tokens, K] -> BitNet activation quantization -> MatMul with ternary W (and + bias in the first form).</summary>
    private static Model Build(Form form)
    {
        bool half = form == Form.Float16CastAround;
        var g = new Graph { Name = "actquant" };
        var m = new Model(g) { IrVersion = 10, ProducerName = "ternion-tests" };
        int opset = form is Form.Opset17ClipEps ? 17 : 21;
        m.OpsetImports.Add(new OpsetId("", opset));
        var io = half ? DataType.Float16 : DataType.Float;
        var input = g.AddInput("x", IrType.Tensor(io, new Shape([Dim.Symbol("tokens"), Dim.Of(K)])));
        Value Op(string op, Value?[] inputs, params Attribute[] attrs) => g.Append(new Node("", op, inputs, 1, attrs)).Output();
        Value Scalar(string name, float v) => g.AddInitializer(Tensor.FromArray(name, DataType.Float, [], new[] { v }));

        var x = half ? Op("Cast", [input], Attribute.Int("to", (long)DataType.Float)) : input;
        var abs = Op("Abs", [x]);
        var max = opset >= 18
            ? Op("ReduceMax", [abs, g.AddInitializer(Tensor.FromArray("axes", DataType.Int64, [1], new[] { -1L }))], Attribute.Int("keepdims", 1))
            : Op("ReduceMax", [abs], Attribute.Ints("axes", [-1]), Attribute.Int("keepdims", 1));
        var clamped = form == Form.Opset21MaxEpsSharedByThree ? Op("Max", [max, Scalar("eps", 1e-5f)]) : Op("Clip", [max, Scalar("eps", 1e-5f)]);
        var s = Op("Div", [Scalar("qmax", 127f), clamped]);
        var scaled = form == Form.Opset21MaxEpsSharedByThree ? Op("Mul", [s, x]) : Op("Mul", [x, s]);
        var rounded = Op(form == Form.FloorNotRound ? "Floor" : "Round", [scaled]);
        var q = Op("Clip", [rounded, Scalar("lo", -128f), Scalar("hi", 127f)]);
        var a = Op("Div", [q, s]);
        if (half) a = Op("Cast", [a], Attribute.Int("to", (long)DataType.Float16));

        int projections = form == Form.Opset21MaxEpsSharedByThree ? 3 : 1;
        for (int p = 0; p < projections; p++)
        {
            var w = g.AddInitializer(new Tensor($"w{p}", io, [K, N], new MemoryTensorData(WeightModels.Ternary(K, N, io, ScaleKind.PerChannel, 10 + p).Bytes)));
            var y = Op("MatMul", [a, w]);
            if (form == Form.Opset17ClipEps)
                y = Op("Add", [y, g.AddInitializer(Tensor.FromArray("bias", DataType.Float, [N], Enumerable.Range(0, N).Select(i => i * 0.01f - 0.2f).ToArray()))]);
            g.Rename(y, $"y{p}");
            y.Type = IrType.Tensor(io, new Shape([Dim.Symbol("tokens"), Dim.Of(N)]));
            g.Outputs.Add(y);
        }
        return m;
    }

    [Theory]
    [InlineData(Form.Opset17ClipEps, 1, "TernaryMatMulAbsmaxInt8")]
    [InlineData(Form.Opset21MaxEpsSharedByThree, 3, "TernaryMatMulAbsmaxInt8")]
    [InlineData(Form.Float16CastAround, 1, "TernaryMatMulAbsmaxInt8")]
    [InlineData(Form.FloorNotRound, 1, "TernaryMatMul")]
    public void QuantizedMatMulsFuseAndMatchTheOriginalOnOrt(Form form, int products, string op)
    {
        using var dir = new TempDir("actquant");
        var original = dir.File("original.onnx");
        ModelSerializer.Save(Build(form), original);
        TernionCompiler.Compile(new CompileRequest { InputPath = original, OutputPath = dir.File("ttf1.onnx"), Target = "ort-ttf1", CheckInvariants = true });
        var compiled = ModelSerializer.Load(dir.File("ttf1.onnx"));
        var fused = compiled.AllNodes().Where(n => n.DomainName == "com.ternion").ToList();
        Assert.Equal(products, fused.Count);
        Assert.All(fused, n => Assert.Equal(op, n.OpType));
        if (op == "TernaryMatMulAbsmaxInt8")
        {
            // The whole quantization went into the op: no Round, Abs or ReduceMax is left.
            Assert.DoesNotContain(compiled.AllNodes(), n => n.OpType is "Round" or "Abs" or "ReduceMax");
            Assert.All(fused, n => Assert.Equal(127f, n.GetFloat("quant_max", 0)));
        }
        if (form == Form.Opset17ClipEps) Assert.Equal(4, fused.Single().Inputs.Count); // the bias folded in

        // The original runs ONNX Runtime's own quantization and a float MatMul on the dense weight:
        // one token (the matrix-vector kernel) and 130 (the tiled one).
        foreach (long tokens in new[] { 1L, 130L })
        {
            var verify = ModelVerifier.Verify(original, dir.File("ttf1.onnx"), new VerifyOptions
            {
                Dims = new Dictionary<string, long> { ["tokens"] = tokens },
                Rtol = form == Form.Float16CastAround ? 2e-3 : 1e-5,
                Atol = form == Form.Float16CastAround ? 2e-3 : 1e-5,
                Seed = 3,
            });
            Assert.True(verify.Ok, $"{tokens} token(s): " + string.Join("; ", verify.Outputs));
        }
    }
}
