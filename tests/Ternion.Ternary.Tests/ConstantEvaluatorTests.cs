using System.Runtime.InteropServices;
using Ternion.Backends.Evaluation;
using Ternion.IR;
using Ternion.Passes.Constants;

namespace Ternion.Ternary.Tests;

/// <summary>
/// The native evaluator claims to compute exactly what ONNX Runtime computes: every operator it
/// implements, on every element type a weight subgraph uses, is run by both on the same random data
/// (with ties at .5, signed zeros, subnormals and large values mixed in) and must agree bit for bit.
/// </summary>
public class ConstantEvaluatorTests
{
    private const int Count = 257; // more than the ORT evaluator embeds, so inputs are fed from mapped bytes

    private sealed class Case(string op, DataType[] types, long[][] dims, Attribute[]? attrs = null, int outputs = 1)
    {
        public string Op => op;
        public DataType[] Types => types;
        public long[][] Dims => dims;
        public Attribute[] Attrs => attrs ?? [];
        public int Outputs => outputs;
        /// <summary>Bytes of input i: (input index, seed, type, element count).</summary>
        public Func<int, int, DataType, long, byte[]>? Data { get; init; }
        public override string ToString() => $"{op}({string.Join(", ", types.Select(DataTypes.ShortName))})";
    }

    private static readonly long[] V = [Count];

    private static IEnumerable<Case> Cases()
    {
        DataType F = DataType.Float, H = DataType.Float16, D = DataType.Double;
        foreach (var op in new[] { "Abs", "Neg", "Floor", "Ceil", "Round", "Reciprocal", "Sqrt" })
            foreach (var t in new[] { F, D })
                yield return new Case(op, [t], [V]);
        yield return new Case("Round", [H], [V]);
        yield return new Case("Abs", [DataType.Int32], [V]);
        yield return new Case("Neg", [DataType.Int64], [V]);
        foreach (var op in new[] { "Add", "Sub", "Mul", "Div" })
        {
            yield return new Case(op, [F, F], [[3, Count], [Count]]);
            yield return new Case(op, [F, F], [[Count, 1], [1]]);
            yield return new Case(op, [D, D], [V, V]);
            yield return new Case(op, [H, H], [V, V]);
            yield return new Case(op, [DataType.Int32, DataType.Int32], [[2, Count], [2, 1]]) { Data = NonZeroInts };
            yield return new Case(op, [DataType.Int64, DataType.Int64], [V, []]) { Data = NonZeroInts };
        }
        yield return new Case("Mod", [DataType.Int32, DataType.Int32], [V, V], [Attribute.Int("fmod", 0)]) { Data = NonZeroInts };
        yield return new Case("Mod", [DataType.Int32, DataType.Int32], [V, V], [Attribute.Int("fmod", 1)]) { Data = NonZeroInts };
        yield return new Case("Mod", [F, F], [V, V], [Attribute.Int("fmod", 1)]);
        foreach (var op in new[] { "BitwiseAnd", "BitwiseOr", "BitwiseXor" })
            yield return new Case(op, [DataType.UInt8, DataType.UInt8], [[4, Count], []]);
        yield return new Case("BitwiseNot", [DataType.Int32], [V]);
        yield return new Case("BitShift", [DataType.UInt8, DataType.UInt8], [V, []], [Attribute.String("direction", "RIGHT")]) { Data = Shifts };
        yield return new Case("BitShift", [DataType.UInt8, DataType.UInt8], [V, []], [Attribute.String("direction", "LEFT")]) { Data = Shifts };
        yield return new Case("BitShift", [DataType.UInt32, DataType.UInt32], [V, V], [Attribute.String("direction", "RIGHT")]) { Data = Shifts };
        yield return new Case("Max", [F, F], [V, []]) { Data = NoNaNNoZeroBound };
        yield return new Case("Min", [F, F, F], [V, [1], []]) { Data = NoNaNNoZeroBound };
        yield return new Case("Min", [DataType.Int64, DataType.Int64], [V, V]);
        yield return new Case("Clip", [F, F, F], [V, [], []]) { Data = NoNaNNoZeroBound };
        yield return new Case("Clip", [H, H, H], [V, [], []]) { Data = NoNaNNoZeroBound };
        yield return new Case("Clip", [DataType.Int32, DataType.Int32, DataType.Int32], [V, [], []]);
        foreach (var (from, to) in new[] { (F, H), (F, DataType.BFloat16), (H, F), (DataType.BFloat16, F), (F, D), (D, F), (DataType.UInt8, F),
                     (DataType.Int32, F), (DataType.Int64, H), (DataType.Int8, DataType.Int32), (DataType.Int32, DataType.UInt8), (DataType.UInt8, DataType.Bool) })
            yield return new Case("Cast", [from], [V], [Attribute.Int("to", (long)to)]);
        yield return new Case("Cast", [F], [V], [Attribute.Int("to", (long)DataType.Int32)]) { Data = SmallFloats };
        yield return new Case("Transpose", [F], [[3, 5, 7]], [Attribute.Ints("perm", [2, 0, 1])]);
        yield return new Case("Transpose", [H], [[13, 29]]);
        yield return new Case("Concat", [DataType.UInt8, DataType.UInt8, DataType.UInt8], [[2, 9], [5, 9], [1, 9]], [Attribute.Int("axis", 0)]);
        yield return new Case("Concat", [F, F], [[3, 4, 2], [3, 1, 2]], [Attribute.Int("axis", -2)]);
        yield return new Case("Flatten", [F], [[2, 3, 4]], [Attribute.Int("axis", 2)]);
        yield return new Case("Reshape", [F, DataType.Int64], [[4, 6], [2]]) { Data = Then(3, -1) };
        yield return new Case("Reshape", [F, DataType.Int64], [[4, 6], [3]]) { Data = Then(0, 2, -1) };
        yield return new Case("Unsqueeze", [F, DataType.Int64], [[4, 6], [2]]) { Data = Then(0, -1) };
        yield return new Case("Squeeze", [F, DataType.Int64], [[1, 4, 1, 6], [2]]) { Data = Then(0, 2) };
        yield return new Case("Slice", [F, DataType.Int64, DataType.Int64, DataType.Int64, DataType.Int64], [[10, 12], [2], [2], [2], [2]])
            { Data = Then([1, -3], [8, 100], [0, 1], [2, 1]) };
        yield return new Case("Slice", [H, DataType.Int64, DataType.Int64, DataType.Int64, DataType.Int64], [[10, 12], [1], [1], [1], [1]])
            { Data = Then([-2], [0], [1], [-3]) };
        yield return new Case("Gather", [F, DataType.Int64], [[10, 4], [3]], [Attribute.Int("axis", 0)]) { Data = Then(0, 9, -1) };
        yield return new Case("Gather", [F, DataType.Int64], [[3, 10], []], [Attribute.Int("axis", 1)]) { Data = Then(7) };
        yield return new Case("Expand", [F, DataType.Int64], [[4, 1], [3]]) { Data = Then(2, 4, 3) };
        yield return new Case("Shape", [F], [[3, 4, 5]], [Attribute.Int("start", 1)]);
        yield return new Case("Size", [F], [[3, 4, 5]]);
        yield return new Case("ConstantOfShape", [DataType.Int64], [[2]],
            [Attribute.FromTensor("value", Tensor.FromArray(null, DataType.Float, [1], new[] { 0.75f }))]) { Data = Then(3, 5) };
        yield return new Case("DequantizeLinear", [DataType.Int8, F], [[16, 20], []]);
        yield return new Case("DequantizeLinear", [DataType.UInt8, F, DataType.UInt8], [[16, 20], [20], [20]]);
        yield return new Case("DequantizeLinear", [DataType.Int8, F], [[16, 20], [16]], [Attribute.Int("axis", 0)]);
        yield return new Case("DequantizeLinear", [DataType.Int4, F], [[64, 6], [2, 6]], [Attribute.Int("axis", 0), Attribute.Int("block_size", 32)]);
        yield return new Case("DequantizeLinear", [DataType.UInt4, F, DataType.UInt4], [[64, 6], [2, 6], [2, 6]], [Attribute.Int("axis", 0), Attribute.Int("block_size", 32)]);
        yield return new Case("DequantizeLinear", [DataType.Int8, H], [[16, 20], []]);
    }

    public static TheoryData<string> CaseNames() => new(Cases().Select(c => c.ToString()).Distinct());

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void NativeEvaluationIsBitIdenticalToOnnxRuntime(string name)
    {
        foreach (var c in Cases().Where(c => c.ToString() == name))
            for (int seed = 0; seed < 3; seed++)
                Compare(c, seed);
    }

    private static void Compare(Case c, int seed)
    {
        var g = new Graph { Name = "one_op" };
        var m = new Model(g) { IrVersion = 10 };
        m.OpsetImports.Add(new OpsetId("", 21));
        var inputs = new List<Value>();
        for (int i = 0; i < c.Types.Length; i++)
        {
            long n = Tensor.ElementCountOf(c.Dims[i]);
            var bytes = (c.Data ?? Mixed)(i, seed * 31 + i, c.Types[i], n);
            inputs.Add(g.AddInitializer(new Tensor($"in{i}", c.Types[i], c.Dims[i], new MemoryTensorData(bytes)), $"in{i}"));
        }
        var node = g.Append(new Node("", c.Op, inputs, c.Outputs, c.Attrs));
        var root = node.Output();
        g.Outputs.Add(root);
        var cone = new ConstantAnalysis().Cone(root, out var why) ?? throw new InvalidOperationException(why);

        var native = new NativeConstantEvaluator().Evaluate(cone, [root], m, out var nativeWhy);
        using var ortEval = new OrtConstantEvaluator { AllowDataSizedOutputs = true };
        var ort = ortEval.Evaluate(cone, [root], m, out var ortWhy);
        Assert.True(ort is not null, $"{c}: ONNX Runtime could not compute it: {ortWhy}");
        Assert.True(native is not null, $"{c}: the native evaluator declined: {nativeWhy}");
        try
        {
            Assert.Equal(ort[0].Type, native[0].Type);
            Assert.Equal(ort[0].Dims, native[0].Dims);
            var a = native[0].Bytes;
            var b = ort[0].Bytes;
            if (a.SequenceEqual(b)) return;
            // NaN payloads are not a value: both NaN at the same places is agreement.
            Assert.True(SameUpToNaN(a, b, native[0].Type), $"{c} seed {seed}: native and ORT differ at byte {FirstDiff(a, b)}");
        }
        finally
        {
            foreach (var t in native.Concat(ort)) t.Dispose();
        }
    }

    /// <summary>
    /// Reductions of a computed value (Abs of a weight, as BitNet's absmean) in ORT's order of
    /// additions: whole tensors and trailing axes, rows of every alignment, many lengths.
    /// </summary>
    [Theory]
    [InlineData("ReduceMean", new long[] { 17694 }, null, 0)]
    [InlineData("ReduceMean", new long[] { 2560, 691 }, null, 0)]
    [InlineData("ReduceMean", new long[] { 2, 3 }, null, 1)]
    [InlineData("ReduceMean", new long[] { 37, 101 }, new long[] { 1 }, 1)]
    [InlineData("ReduceMean", new long[] { 48, 700 }, new long[] { -1 }, 0)]
    [InlineData("ReduceMean", new long[] { 5, 6, 7 }, new long[] { 1, 2 }, 1)]
    [InlineData("ReduceMean", new long[] { 9, 3 }, new long[] { 1 }, 1)]
    [InlineData("ReduceSum", new long[] { 64, 1001 }, new long[] { 1 }, 0)]
    [InlineData("ReduceSum", new long[] { 333 }, null, 1)]
    [InlineData("ReduceMax", new long[] { 31, 77 }, new long[] { 1 }, 1)]
    [InlineData("ReduceMin", new long[] { 1000 }, null, 0)]
    public void ReductionsOfComputedValuesMatchOnnxRuntimeBitForBit(string op, long[] dims, long[]? axes, int keepdims)
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var g = new Graph { Name = "reduce" };
            var m = new Model(g) { IrVersion = 10 };
            m.OpsetImports.Add(new OpsetId("", 21));
            long n = Tensor.ElementCountOf(dims);
            var rng = new Random(seed);
            var values = Enumerable.Range(0, (int)n).Select(_ => (float)((rng.NextDouble() - 0.5) * (seed == 2 ? 1e4 : 0.04))).ToArray();
            var w = g.AddInitializer(Tensor.FromArray("w", DataType.Float, dims, values), "w");
            var abs = g.Append(new Node("", "Abs", [w], 1)).Output();
            var inputs = new List<Value?> { abs };
            if (axes is not null) inputs.Add(g.AddInitializer(Tensor.FromArray("axes", DataType.Int64, [axes.Length], axes), "axes"));
            var root = g.Append(new Node("", op, inputs, 1, [Attribute.Int("keepdims", keepdims)])).Output();
            g.Outputs.Add(root);
            var cone = new ConstantAnalysis().Cone(root, out _)!;
            var native = new NativeConstantEvaluator().Evaluate(cone, [root], m, out var why);
            Assert.True(native is not null, why);
            using var ortEval = new OrtConstantEvaluator();
            var ort = ortEval.Evaluate(cone, [root], m, out var ortWhy)!;
            Assert.True(ort is not null, ortWhy);
            Assert.Equal(ort[0].Dims, native[0].Dims);
            Assert.True(ort[0].Bytes.SequenceEqual(native[0].Bytes), $"{op} seed {seed}: native {FirstDiff(native[0].Bytes, ort[0].Bytes)}");
            foreach (var t in native.Concat(ort)) t.Dispose();
        }
    }

    /// <summary>
    /// y * (1 / x) and y / x round differently: 45.5 / 7 is exactly 6.5, which rounds to 6, while
    /// 45.5 * fl(1/7) is 6.5000005 and rounds to 7. ORT rewrites Mul(y, Div(1, x)) to Div(y, x)
    /// when the Div has no other reader, before folding; a second reader keeps the two steps.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MulByAReciprocalIsDividedAsOnnxRuntimeRewritesIt(bool secondReader)
    {
        var g = new Graph { Name = "divmul" };
        var m = new Model(g) { IrVersion = 10 };
        m.OpsetImports.Add(new OpsetId("", 21));
        var y = g.AddInitializer(Tensor.FromArray("y", DataType.Float, [4], new[] { 45.5f, -45.5f, 10.5f, 3f }), "y");
        var one = g.AddInitializer(Tensor.FromArray("one", DataType.Float, [], new[] { 1f }), "one");
        var seven = g.AddInitializer(Tensor.FromArray("seven", DataType.Float, [], new[] { 7f }), "seven");
        var r = g.Append(new Node("", "Div", [one, seven], 1)).Output();
        var root = g.Append(new Node("", "Round", [g.Append(new Node("", "Mul", [y, r], 1)).Output()], 1)).Output();
        g.Outputs.Add(root);
        if (secondReader)
        {
            var other = g.Append(new Node("", "Neg", [r], 1)).Output();
            g.Outputs.Add(other);
        }
        var cone = new ConstantAnalysis().Cone(root, out _)!;
        var native = new NativeConstantEvaluator().Evaluate(cone, [root], m, out var why)!;
        using var ortEval = new OrtConstantEvaluator();
        var ort = ortEval.Evaluate(cone, [root], m, out _)!;
        var expected = secondReader ? new[] { 7f, -7f, 2f, 0f } : new[] { 6f, -6f, 2f, 0f };
        Assert.Equal(expected, ort[0].As<float>().ToArray());
        Assert.True(native[0].Bytes.SequenceEqual(ort[0].Bytes), $"native {string.Join(", ", native[0].As<float>().ToArray())}");
        foreach (var t in native.Concat(ort)) t.Dispose();
    }

    [Fact]
    public void WhatTheNativeEvaluatorCannotPromiseItLeavesToOnnxRuntime()
    {
        var g = new Graph { Name = "declines" };
        var m = new Model(g) { IrVersion = 10 };
        m.OpsetImports.Add(new OpsetId("", 21));
        var x = g.AddInitializer(Tensor.FromArray("x", DataType.Float, [4], new[] { 1f, float.NaN, -0f, 3f }), "x");
        var lo = g.AddInitializer(Tensor.FromArray("lo", DataType.Float, [], new[] { 0f }), "lo");
        var clip = g.Append(new Node("", "Clip", [x, lo], 1)).Output();
        var square = g.AddInitializer(Tensor.FromArray("sq", DataType.Float, [2, 2], new[] { 1f, 2f, 3f, 4f }), "sq");
        var axis0 = g.AddInitializer(Tensor.FromArray("axis0", DataType.Int64, [1], new[] { 0L }), "axis0");
        var mean = g.Append(new Node("", "ReduceMean", [g.Append(new Node("", "Abs", [square], 1)).Output(), axis0], 1)).Output();
        g.Outputs.Add(clip);
        g.Outputs.Add(mean);
        var analysis = new ConstantAnalysis();
        foreach (var (root, expect) in new[] { (clip, "NaN"), (mean, "trailing axes") })
        {
            var cone = analysis.Cone(root, out _)!;
            Assert.Null(new NativeConstantEvaluator().Evaluate(cone, [root], m, out var why));
            Assert.Contains(expect, why);
            using var ort = new OrtConstantEvaluator();
            var chained = new ChainedEvaluator(new NativeConstantEvaluator(), ort).Evaluate(cone, [root], m, out _);
            var direct = ort.Evaluate(cone, [root], m, out _);
            Assert.NotNull(chained);
            Assert.True(chained[0].Bytes.SequenceEqual(direct![0].Bytes));
            foreach (var t in chained.Concat(direct)) t.Dispose();
        }
    }

    [Fact]
    public void ConstantAnalysisTellsWeightsFromActivationsAndSaysWhyACone()
    {
        var g = new Graph { Name = "analysis" };
        var m = new Model(g) { IrVersion = 10 };
        var input = g.AddInput("input", IrType.Tensor(DataType.Float, 4));
        var w = g.AddInitializer(Tensor.FromArray("w", DataType.Float, [4], new[] { 1f, 2f, 3f, 4f }), "w");
        var overridable = g.AddInitializer(Tensor.FromArray("o", DataType.Float, [4], new float[4]), "o");
        g.Inputs.Add(overridable);
        Value Op(string op, params Value[] inputs) => g.Append(new Node("", op, inputs, 1)).Output();
        var constant = Op("Neg", Op("Abs", w));
        var varying = Op("Add", w, input);
        var random = g.Append(new Node("", "RandomNormalLike", [w], 1)).Output();
        var viaRandom = Op("Mul", w, random);
        var viaOverridable = Op("Mul", w, overridable);
        var custom = g.Append(new Node("com.example", "Quant", [w], 1)).Output();
        var analysis = new ConstantAnalysis();
        Assert.Equal(Constness.Constant, analysis.Classify(constant).State);
        Assert.Equal(Constness.Varying, analysis.Classify(varying).State);
        Assert.Equal(Constness.Varying, analysis.Classify(viaOverridable).State); // a caller may feed 'o'
        var (state, why) = analysis.Classify(viaRandom);
        Assert.Equal(Constness.Refused, state);
        Assert.Contains("not the same on every run", why);
        Assert.Contains("outside the ONNX domain", analysis.Classify(custom).Why);
        var cone = analysis.Cone(constant, out _)!;
        Assert.Equal(["Abs", "Neg"], cone.OpTypes);
        Assert.Equal([w], cone.Leaves);
        Assert.Null(new ConstantAnalysis(new ConeLimits { MaxNodes = 1 }).Cone(constant, out var tooBig));
        Assert.Contains("more than 1 nodes", tooBig);
    }

    private static int FirstDiff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (a[i] != b[i]) return i;
        return Math.Min(a.Length, b.Length);
    }

    private static bool SameUpToNaN(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, DataType t)
    {
        if (a.Length != b.Length) return false;
        switch (t)
        {
            case DataType.Float:
            {
                var x = MemoryMarshal.Cast<byte, float>(a); var y = MemoryMarshal.Cast<byte, float>(b);
                for (int i = 0; i < x.Length; i++) if (BitConverter.SingleToUInt32Bits(x[i]) != BitConverter.SingleToUInt32Bits(y[i]) && !(float.IsNaN(x[i]) && float.IsNaN(y[i]))) return false;
                return true;
            }
            case DataType.Double:
            {
                var x = MemoryMarshal.Cast<byte, double>(a); var y = MemoryMarshal.Cast<byte, double>(b);
                for (int i = 0; i < x.Length; i++) if (BitConverter.DoubleToUInt64Bits(x[i]) != BitConverter.DoubleToUInt64Bits(y[i]) && !(double.IsNaN(x[i]) && double.IsNaN(y[i]))) return false;
                return true;
            }
            case DataType.Float16 or DataType.BFloat16:
            {
                var x = MemoryMarshal.Cast<byte, ushort>(a); var y = MemoryMarshal.Cast<byte, ushort>(b);
                ushort exp = t == DataType.Float16 ? (ushort)0x7C00 : (ushort)0x7F80;
                static bool Nan(ushort v, ushort e) => (v & e) == e && (v & ~e & 0x7FFF) != 0;
                for (int i = 0; i < x.Length; i++) if (x[i] != y[i] && !(Nan(x[i], exp) && Nan(y[i], exp))) return false;
                return true;
            }
            default: return false;
        }
    }

    // ---- data: per element type, typical values mixed with ties, signed zeros, subnormals and extremes ----

    private static readonly float[] Specials = [0f, -0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 1e-40f, -1e-40f, 3e38f, -3e38f, 1f, -1f, 0.49999997f, 1e-5f,
        float.PositiveInfinity, float.NegativeInfinity, float.NaN];

    private static byte[] Values(int seed, DataType t, long n, bool nan, double spread = 8)
    {
        var rng = new Random(seed);
        double Next()
        {
            int pick = rng.Next(4);
            return pick == 0 ? Specials[rng.Next(Specials.Length - (nan ? 0 : 1))] : pick == 1 ? (rng.NextDouble() - 0.5) * spread : rng.Next(-20, 21) * 0.5;
        }
        switch (t)
        {
            case DataType.Float: return FormModel.Bytes(Enumerable.Range(0, (int)n).Select(_ => (float)Next()).ToArray());
            case DataType.Double: return FormModel.Bytes(Enumerable.Range(0, (int)n).Select(_ => Next()).ToArray());
            case DataType.Float16: return FormModel.Bytes(Enumerable.Range(0, (int)n).Select(_ => (Half)Next()).ToArray());
            case DataType.BFloat16: return Ternion.SampleGen.LowPrecision.BFloat16(Enumerable.Range(0, (int)n).Select(_ => (float)Next()).ToArray());
            default:
            {
                var b = new byte[DataTypes.ByteCount(t, n)];
                rng.NextBytes(b);
                return b;
            }
        }
    }

    private static byte[] Mixed(int input, int seed, DataType t, long n) => Values(seed, t, n, nan: true);

    /// <summary>Random data for input 0, then the given int64 values for inputs 1, 2 ... (shapes, axes, indices).</summary>
    private static Func<int, int, DataType, long, byte[]> Then(params long[][] fixedInputs) =>
        (input, seed, t, n) => input == 0 && t != DataType.Int64 ? Values(seed, t, n, nan: true) : FormModel.Bytes(fixedInputs[t == DataType.Int64 && input == 0 ? 0 : input - 1]);

    private static Func<int, int, DataType, long, byte[]> Then(params long[] one) => Then([one]);
    private static byte[] NoNaN(int input, int seed, DataType t, long n) => Values(seed, t, n, nan: false);

    /// <summary>No NaN, and no zero in the bounds or second operands (min/max of -0 and +0 is the implementation's choice; the native evaluator declines it).</summary>
    private static byte[] NoNaNNoZeroBound(int input, int seed, DataType t, long n)
    {
        var b = Values(seed, t, n, nan: false);
        if (input == 0) return b;
        if (t == DataType.Float) { var f = MemoryMarshal.Cast<byte, float>(b.AsSpan()); for (int i = 0; i < f.Length; i++) if (f[i] == 0) f[i] = 0.25f; }
        if (t == DataType.Float16) { var f = MemoryMarshal.Cast<byte, Half>(b.AsSpan()); for (int i = 0; i < f.Length; i++) if (f[i] == Half.Zero) f[i] = (Half)0.25f; }
        return b;
    }
    /// <summary>In range of int32 for a float-to-int cast.</summary>
    private static byte[] SmallFloats(int input, int seed, DataType t, long n) => Values(seed, t, n, nan: false, spread: 2000)
        .Chunk(4).SelectMany(c => { float f = BitConverter.ToSingle(c); return BitConverter.GetBytes(float.IsFinite(f) && Math.Abs(f) < 1e9f ? f : 1f); }).ToArray();

    /// <summary>No zero element (a divisor of zero has no defined result).</summary>
    private static byte[] NonZeroInts(int input, int seed, DataType t, long n)
    {
        var b = Values(seed, t, n, nan: false);
        int w = DataTypes.BitWidth(t) / 8;
        for (int i = 0; i < b.Length; i += w)
            if (b.AsSpan(i, w).IndexOfAnyExcept((byte)0) < 0) b[i] = 3;
        return b;
    }

    /// <summary>Data for input 0; shift amounts below the element width for input 1.</summary>
    private static byte[] Shifts(int input, int seed, DataType t, long n)
    {
        var b = Values(seed, t, n, nan: false);
        if (input == 0) return b;
        int w = DataTypes.BitWidth(t) / 8;
        for (int i = 0; i < b.Length; i++) b[i] = i % w == 0 ? (byte)(b[i] % (w * 8)) : (byte)0;
        return b;
    }
}
