using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Backends.Verification;

public sealed record VerifyOptions
{
    /// <summary>Folder with input_N.pb files; when null, inputs are generated from the declared types.</summary>
    public string? InputsDirectory { get; init; }
    public double Rtol { get; init; } = 1e-5;
    public double Atol { get; init; } = 1e-6;
    public int Seed { get; init; } = 0;
    /// <summary>Sizes for symbolic dimensions; any other symbolic dimension is 1.</summary>
    public IReadOnlyDictionary<string, long> Dims { get; init; } = new Dictionary<string, long>();
    /// <summary>Whole shapes for named inputs (for inputs whose dimensions have no names).</summary>
    public IReadOnlyDictionary<string, long[]> Shapes { get; init; } = new Dictionary<string, long[]>();
    /// <summary>ORT options for both runs.</summary>
    public OrtRunOptions Ort { get; init; } = new();
    /// <summary>Require bit-identical outputs (ignores the tolerances).</summary>
    public bool Exact { get; init; }
}

public sealed record VerifyResult(IReadOnlyList<OutputComparison> Outputs, IReadOnlyDictionary<string, RunValue> Inputs)
{
    public bool Ok => Outputs.All(o => o.Ok);
}

/// <summary>Runs a reference and a candidate model on ONNX Runtime with the same inputs and compares every output.</summary>
public static class ModelVerifier
{
    public static VerifyResult Verify(string referencePath, string candidatePath, VerifyOptions? options = null)
    {
        options ??= new VerifyOptions();
        var reference = ModelSerializer.Load(referencePath);
        var candidate = ModelSerializer.Load(candidatePath);
        var inputs = options.InputsDirectory is { } dir ? ReadInputs(reference, dir) : GenerateInputs(reference, options.Seed, options.Dims, options.Shapes);
        foreach (var name in inputs.Keys)
            if (candidate.Graph.Inputs.All(v => v.Name != name))
                throw new TernionException($"{candidatePath}: has no input '{name}', which {Path.GetFileName(referencePath)} takes");
        var expected = OrtRunner.Run(referencePath, inputs, options.Ort with { TernionCustomOps = options.Ort.TernionCustomOps || NeedsTernionOps(reference) });
        var actual = OrtRunner.Run(candidatePath, inputs, options.Ort with { TernionCustomOps = options.Ort.TernionCustomOps || NeedsTernionOps(candidate) })
            .ToDictionary(p => p.Name, p => p.Value);
        var results = new List<OutputComparison>();
        foreach (var (name, e) in expected)
        {
            if (!actual.TryGetValue(name, out var a))
            {
                results.Add(new OutputComparison(name, false, double.PositiveInfinity, double.PositiveInfinity, 1, 0, "missing in the candidate"));
                continue;
            }
            var c = Comparison.Compare(name, e, a, options.Rtol, options.Atol);
            if (options.Exact && c.Problem is null && !Comparison.BitIdentical(e, a))
                c = c with { Ok = false, Problem = "not bit-identical" };
            results.Add(c);
        }
        return new VerifyResult(results, inputs);
    }

    /// <summary>
    /// True when the model uses a com.ternion operator it carries no function body for (the
    /// ort-ttf1 target's TernaryMatMul, or a TernaryDecode without its fallback body): ONNX
    /// Runtime then needs Ternion's custom ops, which verify registers in process. A model with
    /// bodies runs without them, so its bodies are what gets verified.
    /// </summary>
    public static bool NeedsTernionOps(Model model) =>
        model.AllNodes().Any(n => n.DomainName == Ternion.Backends.OrtOps.TernionCustomOps.Domain && model.FindFunction(n.DomainName, n.OpType) is null);

    /// <summary>The inputs a caller must feed: graph inputs that are not initializers.</summary>
    public static IEnumerable<Value> FeedableInputs(Model m) => m.Graph.Inputs.Where(v => !v.IsInitializer && !v.IsSparseInitializer);

    /// <summary>Reads input_N.pb from a folder; a file is matched to an input by its stored name, else by position.</summary>
    public static Dictionary<string, RunValue> ReadInputs(Model model, string dir)
    {
        if (!Directory.Exists(dir)) throw new TernionException($"{dir}: input folder not found");
        var files = Directory.GetFiles(dir, "input_*.pb")
            .Select(f => (f, m: Regex.Match(Path.GetFileName(f), @"^input_(\d+)\.pb$")))
            .Where(p => p.m.Success).OrderBy(p => int.Parse(p.m.Groups[1].Value)).Select(p => p.f).ToList();
        var feedable = FeedableInputs(model).ToList();
        var result = new Dictionary<string, RunValue>();
        for (int i = 0; i < files.Count; i++)
        {
            var byPosition = i < feedable.Count ? feedable[i] : null;
            var stored = TestDataReader.ReadName(files[i], byPosition?.Type);
            var target = (stored is not null ? feedable.FirstOrDefault(v => v.Name == stored) : null) ?? byPosition
                ?? throw new TernionException($"{files[i]}: the model has only {feedable.Count} inputs to feed");
            result[target.Name] = TestDataReader.Read(files[i], target.Type);
        }
        return result;
    }

    /// <summary>Deterministic inputs from the declared types: floats in [-1, 1), integers in [0, 3), random booleans.</summary>
    public static Dictionary<string, RunValue> GenerateInputs(Model model, int seed, IReadOnlyDictionary<string, long> dims, IReadOnlyDictionary<string, long[]>? shapes = null)
    {
        if (shapes is not null)
            foreach (var name in shapes.Keys)
                if (FeedableInputs(model).All(v => v.Name != name)) throw new TernionException($"--shape names '{name}', which is not an input of the model");
        var rng = new Random(seed);
        var result = new Dictionary<string, RunValue>();
        foreach (var v in FeedableInputs(model))
        {
            if (v.Type is null || v.Type.Kind != TypeKind.Tensor)
                throw new TernionException($"input '{v.Name}' has {(v.Type is null ? "no declared type" : $"type {v.Type}")}; give its values with --inputs DIR");
            var shape = v.Type.Shape ?? throw new TernionException($"input '{v.Name}' has no declared shape; give its values with --inputs DIR");
            var d = shapes is not null && shapes.TryGetValue(v.Name, out var given) ? given
                : shape.Dims.Select(x => x.Value ?? (x.Param is { } p && dims.TryGetValue(p, out var s) ? s : 1)).ToArray();
            if (d.Length != shape.Rank) throw new TernionException($"--shape for '{v.Name}' has rank {d.Length}, the input has rank {shape.Rank}");
            long n = Tensor.ElementCountOf(d);
            result[v.Name] = Generate(v.Type.ElemType, d, n, rng, v.Name);
        }
        return result;
    }

    private static RunValue Generate(DataType t, long[] dims, long n, Random rng, string name)
    {
        switch (t)
        {
            case DataType.Float: return RunValue.FromArray(t, dims, Fill(n, () => (float)(rng.NextDouble() * 2 - 1)));
            case DataType.Double: return RunValue.FromArray(t, dims, Fill(n, () => rng.NextDouble() * 2 - 1));
            case DataType.Float16: return RunValue.FromArray(t, dims, Fill(n, () => (Half)(rng.NextDouble() * 2 - 1)));
            case DataType.BFloat16:
                return RunValue.FromArray(t, dims, Fill(n, () => (ushort)(BitConverter.SingleToInt32Bits((float)(rng.NextDouble() * 2 - 1)) >> 16)));
            case DataType.Int64: return RunValue.FromArray(t, dims, Fill(n, () => (long)rng.Next(3)));
            case DataType.Int32: return RunValue.FromArray(t, dims, Fill(n, () => rng.Next(3)));
            case DataType.Int16: return RunValue.FromArray(t, dims, Fill(n, () => (short)rng.Next(3)));
            case DataType.Int8: return RunValue.FromArray(t, dims, Fill(n, () => (sbyte)rng.Next(3)));
            case DataType.UInt8: return RunValue.FromArray(t, dims, Fill(n, () => (byte)rng.Next(3)));
            case DataType.UInt16: return RunValue.FromArray(t, dims, Fill(n, () => (ushort)rng.Next(3)));
            case DataType.UInt32: return RunValue.FromArray(t, dims, Fill(n, () => (uint)rng.Next(3)));
            case DataType.UInt64: return RunValue.FromArray(t, dims, Fill(n, () => (ulong)rng.Next(3)));
            case DataType.Bool: return RunValue.FromArray(t, dims, Fill(n, () => (byte)rng.Next(2)));
            case DataType.String: return new RunValue { ElemType = t, Dims = dims, Strings = Fill(n, () => "s" + rng.Next(3)) };
            default: throw new TernionException($"input '{name}' is {DataTypes.OnnxName(t)}, which ONNX Runtime's C# API cannot feed; give inputs another way");
        }
    }

    private static T[] Fill<T>(long n, Func<T> next)
    {
        if (n > int.MaxValue) throw new TernionException($"an input of {n:N0} elements is too large to generate");
        var a = new T[n];
        for (long i = 0; i < n; i++) a[i] = next();
        return a;
    }
}
