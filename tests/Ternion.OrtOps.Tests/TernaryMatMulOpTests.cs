using System.Runtime.InteropServices;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.OrtOps.Tests;

/// <summary>com.ternion::TernaryMatMul on ONNX Runtime against the product with the decoded weight, on random shapes.</summary>
public class TernaryMatMulOpTests
{
    private static readonly OrtRunOptions WithOps = new() { TernionCustomOps = true };

    private sealed record Case(int K, int N, int Block, DataType Type, long[] XDims, bool PerChannel, bool Bias, bool Constant);

    /// <summary>Random cases from one seed: K mostly not a multiple of 320, 1 to 9 tokens in rank 2 or 3, both scale kinds, both types.</summary>
    private static IEnumerable<Case> Cases()
    {
        var rnd = new Random(2024);
        for (int i = 0; i < 16; i++)
        {
            int k = i == 0 ? 640 : rnd.Next(1, 1500);
            int n = rnd.Next(1, 90);
            int tokens = rnd.Next(1, 10);
            long[] xDims = rnd.Next(2) == 0 ? [tokens, k] : [1, tokens, k];
            yield return new Case(k, n, rnd.Next(2) == 0 ? 320 : 640, i % 3 == 2 ? DataType.Float16 : DataType.Float, xDims,
                PerChannel: i % 2 == 0, Bias: i % 4 < 2, Constant: i % 5 == 0);
        }
    }

    private static RunValue Floats(DataType type, long[] dims, float[] values) => type == DataType.Float
        ? RunValue.FromArray(type, dims, values)
        : RunValue.FromArray(type, dims, values.Select(v => (Half)v).ToArray());

    private static float[] Read(RunValue v) => v.ElemType == DataType.Float
        ? MemoryMarshal.Cast<byte, float>(v.Bytes).ToArray()
        : MemoryMarshal.Cast<byte, Half>(v.Bytes).ToArray().Select(h => (float)h).ToArray();

    private static float Round(float v, DataType type) => type == DataType.Float16 ? (float)(Half)v : v;

    [Fact]
    public void MatchesTheProductWithTheDecodedWeightOnRandomShapes()
    {
        var rnd = new Random(99);
        foreach (var c in Cases())
        {
            var layout = TernaryLayout.Matrix(c.N, c.K, c.Block);
            var trits = Enumerable.Range(0, c.N * c.K).Select(_ => (sbyte)(rnd.Next(3) - 1)).ToArray();
            var packed = new byte[layout.PackedBytes];
            TernaryCodec.Encode(trits, layout, packed).ThrowIfFailed("w", layout);
            int tokens = (int)(c.XDims.Aggregate(1L, (a, b) => a * b) / c.K);
            var x = Enumerable.Range(0, tokens * c.K).Select(_ => Round((float)(rnd.NextDouble() * 2 - 1), c.Type)).ToArray();
            var scales = Enumerable.Range(0, c.PerChannel ? c.N : 1).Select(_ => Round((float)(rnd.NextDouble() * 0.2 + 0.01), c.Type)).ToArray();
            var bias = Enumerable.Range(0, c.N).Select(_ => Round((float)(rnd.NextDouble() - 0.5), c.Type)).ToArray();
            var model = OpModels.Bytes(OpModels.MatMul(c.K, c.N, c.Block, c.Type, c.XDims.Length, c.PerChannel, c.Bias, c.Constant ? packed : null));
            var inputs = new Dictionary<string, RunValue>
            {
                ["x"] = Floats(c.Type, c.XDims, x),
                ["scale"] = Floats(c.Type, c.PerChannel ? [c.N] : [], scales),
            };
            if (!c.Constant) inputs["packed"] = RunValue.FromArray(DataType.UInt8, [layout.M, layout.RowBytes], packed);
            if (c.Bias) inputs["bias"] = Floats(c.Type, [c.N], bias);
            var result = OrtRunner.Run(model, inputs, WithOps).Single().Value;
            Assert.Equal([.. c.XDims[..^1], c.N], result.Dims);
            var y = Read(result);
            for (int t = 0; t < tokens; t++)
                for (int m = 0; m < c.N; m++)
                {
                    double exact = 0, magnitude = 0;
                    for (int e = 0; e < c.K; e++)
                    {
                        double term = (double)x[t * c.K + e] * trits[m * c.K + e];
                        exact += term;
                        magnitude += Math.Abs(term);
                    }
                    double s = scales[c.PerChannel ? m : 0];
                    exact = exact * s + (c.Bias ? bias[m] : 0);
                    double tolerance = c.Type == DataType.Float
                        ? 64 * Math.Pow(2, -24) * (magnitude * s + Math.Abs(exact))
                        : Math.Pow(2, -10) * Math.Abs(exact) + 64 * Math.Pow(2, -24) * magnitude * s + 1e-4;
                    Assert.True(Math.Abs(y[t * c.N + m] - exact) <= tolerance, $"{c}: y[{t},{m}] = {y[t * c.N + m]}, expected {exact} ± {tolerance}");
                }
        }
    }
}

/// <summary>
/// com.ternion::TernaryMatMulAbsmaxInt8 on ONNX Runtime against the integer product of the model's
/// quantization (written out here in float32 steps) with the trits, on random shapes.
/// </summary>
public class TernaryMatMulAbsmaxInt8OpTests
{
    [Fact]
    public void MatchesTheExactProductOfTheQuantizedActivationsOnRandomShapes()
    {
        var rnd = new Random(77);
        for (int i = 0; i < 10; i++)
        {
            int k = i == 0 ? 320 : rnd.Next(1, 1400), n = rnd.Next(1, 70), tokens = rnd.Next(1, 9), block = rnd.Next(2) == 0 ? 320 : 640;
            bool perChannel = i % 2 == 0, half = i % 3 == 1;
            var type = half ? DataType.Float16 : DataType.Float;
            var layout = TernaryLayout.Matrix(n, k, block);
            var trits = Enumerable.Range(0, n * k).Select(_ => (sbyte)(rnd.Next(3) - 1)).ToArray();
            var packed = new byte[layout.PackedBytes];
            TernaryCodec.Encode(trits, layout, packed).ThrowIfFailed("w", layout);
            float R(float v) => half ? (float)(Half)v : v;
            var x = Enumerable.Range(0, tokens * k).Select(_ => R((float)(rnd.NextDouble() * 4 - 2))).ToArray();
            var scales = Enumerable.Range(0, perChannel ? n : 1).Select(_ => R((float)(rnd.NextDouble() * 0.1 + 0.01))).ToArray();
            var model = OpModels.Bytes(OpModels.MatMul(k, n, block, type, 2, perChannel, bias: false, absmaxInt8: true));
            RunValue F(long[] dims, float[] v) => half ? RunValue.FromArray(type, dims, v.Select(f => (Half)f).ToArray()) : RunValue.FromArray(type, dims, v);
            var result = OrtRunner.Run(model, new Dictionary<string, RunValue>
            {
                ["x"] = F([tokens, k], x),
                ["packed"] = RunValue.FromArray(DataType.UInt8, [n, layout.RowBytes], packed),
                ["scale"] = F(perChannel ? [n] : [], scales),
            }, new OrtRunOptions { TernionCustomOps = true }).Single().Value;
            var y = half ? MemoryMarshal.Cast<byte, Half>(result.Bytes).ToArray().Select(h => (float)h).ToArray() : MemoryMarshal.Cast<byte, float>(result.Bytes).ToArray();
            for (int t = 0; t < tokens; t++)
            {
                float max = 0;
                for (int e = 0; e < k; e++) max = MathF.Max(max, MathF.Abs(x[t * k + e]));
                float s = 127f / MathF.Max(max, 1e-5f);
                var q = new int[k];
                for (int e = 0; e < k; e++) q[e] = (int)Math.Clamp(MathF.Round(x[t * k + e] * s, MidpointRounding.ToEven), -128f, 127f);
                for (int m = 0; m < n; m++)
                {
                    long dot = 0;
                    for (int e = 0; e < k; e++) dot += (long)q[e] * trits[m * k + e];
                    double exact = dot * (double)scales[perChannel ? m : 0] / s;
                    double tolerance = half ? Math.Abs(exact) * Math.Pow(2, -10) + 1e-4 : Math.Abs(exact) * 1e-6 + 1e-30;
                    Assert.True(Math.Abs(y[t * n + m] - exact) <= tolerance, $"case {i} (K={k}, N={n}, {type}, per-channel {perChannel}): y[{t},{m}] = {y[t * n + m]}, expected {exact}");
                }
            }
        }
    }
}

/// <summary>Bad input reaches the kernel at run time: an ORT error naming the node and the reason, never a crash.</summary>
public class TernaryMatMulBadInputTests
{
    private static readonly OrtRunOptions WithOps = new() { TernionCustomOps = true };

    private static byte[] Zeros(long bytes)
    {
        var p = new byte[bytes];
        Array.Fill(p, TernaryLut.ZeroByte);
        return p;
    }

    private static string Fails(byte[] model, Dictionary<string, RunValue> inputs) =>
        Assert.Throws<TernionException>(() => OrtRunner.Run(model, inputs, WithOps)).Message;

    private static Dictionary<string, RunValue> Inputs(int k, long[] packedDims, byte[] packed) => new()
    {
        ["x"] = RunValue.FromArray(DataType.Float, [2, k], new float[2 * k]),
        ["packed"] = RunValue.FromArray(DataType.UInt8, packedDims, packed),
        ["scale"] = RunValue.FromArray(DataType.Float, [], new[] { 1f }),
    };

    [Fact]
    public void A_packed_shape_that_disagrees_with_K_and_N_names_the_node_and_both_shapes()
    {
        var model = OpModels.Bytes(OpModels.MatMul(700, 5, 320, DataType.Float, 2, perChannel: false, bias: false));
        string message = Fails(model, Inputs(700, [5, 64], Zeros(5 * 64)));
        Assert.Contains("TernaryMatMul node 'proj'", message);
        Assert.Contains("[5,64]", message);
        Assert.Contains("needs [5,192]", message);
    }

    [Fact]
    public void A_reserved_byte_at_run_time_names_the_node_and_the_offset()
    {
        var model = OpModels.Bytes(OpModels.MatMul(700, 5, 320, DataType.Float, 2, perChannel: false, bias: false, absmaxInt8: true));
        var packed = Zeros(5 * 192);
        packed[3 * 192 + 17] = 255;
        string message = Fails(model, Inputs(700, [5, 192], packed));
        Assert.Contains("TernaryMatMulAbsmaxInt8 node 'proj'", message);
        Assert.Contains($"offset {3 * 192 + 17}", message);
        Assert.Contains("reserved", message);
    }

    [Fact]
    public void A_reserved_byte_in_a_constant_weight_fails_session_creation_naming_the_node()
    {
        var packed = Zeros(5 * 192);
        packed[100] = 243;
        var model = OpModels.Bytes(OpModels.MatMul(700, 5, 320, DataType.Float, 2, perChannel: false, bias: false, packedConstant: packed));
        var e = Assert.Throws<TernionException>(() => OrtRunner.Run(model, new Dictionary<string, RunValue>
        {
            ["x"] = RunValue.FromArray(DataType.Float, [1, 700], new float[700]),
            ["scale"] = RunValue.FromArray(DataType.Float, [], new[] { 1f }),
        }, WithOps));
        Assert.Contains("TernaryMatMul node 'proj'", e.Message);
        Assert.Contains("offset 100", e.Message);
    }

    [Fact]
    public void A_scale_of_the_wrong_length_names_the_node_and_the_input()
    {
        var model = OpModels.Bytes(OpModels.MatMul(700, 5, 320, DataType.Float, 3, perChannel: true, bias: false));
        var inputs = new Dictionary<string, RunValue>
        {
            ["x"] = RunValue.FromArray(DataType.Float, [1, 1, 700], new float[700]),
            ["packed"] = RunValue.FromArray(DataType.UInt8, [5, 192], Zeros(5 * 192)),
            ["scale"] = RunValue.FromArray(DataType.Float, [4], new float[4]),
        };
        string message = Fails(model, inputs);
        Assert.Contains("TernaryMatMul node 'proj'", message);
        Assert.Contains("scale 'scale' is [4]; it must be [] or [5]", message);
    }
}
