using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Xunit.Abstractions;

namespace Ternion.Passes.Tests;

/// <summary>
/// Runs a model built in a test through the pass (for a portable target, and for a native target
/// followed by a portable one) and compares ONNX Runtime's Y with the C# reference.
/// </summary>
public sealed class FlexCheck(ITestOutputHelper output)
{
    public double Rtol { get; init; } = 1e-4;
    public double Atol { get; init; } = 1e-5;
    public OrtRunOptions Ort { get; init; } = new() { Threads = 1 };

    /// <summary>Values as the element type holds them, so the reference sees exactly what ORT is fed.</summary>
    public static double[] Representable(double[] x, DataType t) => t switch
    {
        DataType.Float => x.Select(v => (double)(float)v).ToArray(),
        DataType.Float16 => x.Select(v => (double)(Half)v).ToArray(),
        DataType.Double => x,
        _ => throw new ArgumentException($"no test inputs for {t}"),
    };

    public static RunValue Feed(double[] x, DataType t, long[] dims) => t switch
    {
        DataType.Float => RunValue.FromArray(t, dims, x.Select(v => (float)v).ToArray()),
        DataType.Float16 => RunValue.FromArray(t, dims, x.Select(v => (Half)v).ToArray()),
        DataType.Double => RunValue.FromArray(t, dims, x),
        _ => throw new ArgumentException($"no test inputs for {t}"),
    };

    /// <summary>Compiles and runs both ways; returns the portable compilation's report.</summary>
    public CompileReport Run(string label, FlexModel fm, ReferenceAttention.Problem p,
        Func<double[], double[], double[], double[]> reference, Dictionary<string, RunValue>? extraInputs = null, double inputRange = 1.0, int seed = 1)
    {
        var t = fm.T;
        var q = Representable(ReferenceAttention.Random(p.QCount, seed, inputRange), t);
        var k = Representable(ReferenceAttention.Random(p.KCount, seed + 1, inputRange), t);
        var v = Representable(ReferenceAttention.Random(p.VCount, seed + 2, inputRange), t);
        var inputs = new Dictionary<string, RunValue>
        {
            ["Q"] = Feed(q, t, [p.B, p.Hq, p.L, p.E]),
            ["K"] = Feed(k, t, [p.B, p.Hkv, p.S, p.E]),
            ["V"] = Feed(v, t, [p.B, p.Hkv, p.S, p.Ev]),
        };
        if (extraInputs is not null) foreach (var (n, x) in extraInputs) inputs[n] = x;
        var expected = reference(q, k, v);
        var bytes = ModelSerializer.ToBytes(fm.Model);

        var portable = FlexCompile.Context();
        var lowered = FlexCompile.Compile(ModelSerializer.FromBytes(bytes), portable);
        Assert.False(FlexCompile.HasFlexNode(lowered));
        Assert.False(FlexCompile.ImportsPreview(lowered));
        Expect(label + " (lowered)", expected, FlexCompile.Run(lowered, inputs, Ort)["Y"], p);

        var native = FlexCompile.Context(native: true);
        var kept = FlexCompile.Compile(ModelSerializer.FromBytes(bytes), native);
        Assert.True(FlexCompile.HasFlexNode(kept));
        var again = FlexCompile.Compile(ModelSerializer.FromBytes(ModelSerializer.ToBytes(kept)));
        Expect(label + " (native form, then lowered)", expected, FlexCompile.Run(again, inputs, Ort)["Y"], p);
        return portable.Report;
    }

    private void Expect(string label, double[] expected, RunValue actual, ReferenceAttention.Problem p)
    {
        Assert.Equal(new long[] { p.B, p.Hq, p.L, p.Ev }, actual.Dims);
        double worst = 0; int bad = 0; string first = "";
        for (int i = 0; i < expected.Length; i++)
        {
            double a = actual.GetDouble(i), e = expected[i];
            double d = Math.Abs(a - e);
            if (double.IsNaN(a) != double.IsNaN(e) || d > Atol + Rtol * Math.Abs(e))
            {
                if (bad++ == 0) first = $"element {i}: expected {e:G9}, got {a:G9}";
            }
            if (!double.IsNaN(d)) worst = Math.Max(worst, d);
        }
        output.WriteLine($"{label}: max abs diff {worst:G3} over {expected.Length} values");
        Assert.True(bad == 0, $"{label}: {bad} of {expected.Length} values differ from the reference; first {first}");
    }
}
