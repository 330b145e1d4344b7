namespace Ternion.TestSupport;

/// <summary>One row of conformance/meta/*_features.tsv: a test and what ONNX Runtime did with it run directly.</summary>
public sealed record ConformanceCase(string Name, string Folder, string OrtStatus, string Detail)
{
    public string ModelPath => Path.Combine(Folder, "model.onnx");
    public string DataSet => Path.Combine(Folder, "test_data_set_0");
    public override string ToString() => Name;
}

public static class NodeTests
{
    /// <summary>The ONNX node tests of the shared corpus with ONNX Runtime's status from node_features.tsv.</summary>
    public static IReadOnlyList<ConformanceCase> All() => All(Paths.Conformance);

    /// <summary>The ONNX node tests under a conformance folder (the shared corpus's or testdata/conformance).</summary>
    public static IReadOnlyList<ConformanceCase> All(string conformanceRoot) =>
        Read(conformanceRoot, "node_features.tsv", Path.Combine(conformanceRoot, "onnx-node"));

    public static IReadOnlyList<ConformanceCase> Read(string conformanceRoot, string table, string folder)
    {
        var lines = File.ReadAllLines(Path.Combine(conformanceRoot, "meta", table));
        var header = lines[0].Split('\t');
        int status = Array.FindIndex(header, h => h.StartsWith("ort_", StringComparison.Ordinal) && h.EndsWith("_status", StringComparison.Ordinal));
        int detail = Array.IndexOf(header, "ort_detail");
        return lines.Skip(1).Select(l => l.Split('\t'))
            .Select(c => new ConformanceCase(c[0], Path.Combine(folder, c[0]), c[status], detail >= 0 && detail < c.Length ? c[detail] : ""))
            .ToList();
    }
}
