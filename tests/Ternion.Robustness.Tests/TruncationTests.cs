using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;

namespace Ternion.Robustness.Tests;

/// <summary>
/// The sample model cut at every boundary between two fields, at the top level and inside the
/// graph, and just after each field's tag and length. Every cut is refused: a cut inside a field
/// leaves a length or a varint that promises more than the file holds, and a cut between
/// top-level fields leaves a well-formed message that lacks the graph or an opset import it uses
/// (the sample ends with its two opset imports).
/// </summary>
public class TruncationTests
{
    internal static string SamplePath => Path.Combine(Paths.TestData, "bitnet-tiny", "model.onnx");

    private const int ModelGraph = 7, ModelOpsetImport = 8;

    [Fact]
    public void EveryTopLevelCutIsRefused()
    {
        var bytes = File.ReadAllBytes(SamplePath);
        var top = Wire.Parse(bytes, 0, bytes.Length)!;
        // The reasoning above relies on this layout: ..., graph, opset_import, opset_import.
        Assert.Equal([ModelGraph, ModelOpsetImport, ModelOpsetImport], top.TakeLast(3).Select(f => f.Number));
        var cuts = new SortedSet<int>();
        foreach (var f in top) { cuts.Add(f.Start); cuts.Add(f.Start + 1); cuts.Add(f.PayloadStart); cuts.Add(f.End - 1); }
        using var dir = new TempDir("truncate");
        var input = dir.File("cut.onnx");
        var output = dir.File("out.onnx");
        foreach (var cut in cuts)
        {
            File.WriteAllBytes(input, bytes[..cut]);
            var r = CliHarness.Run("convert", input, "-o", output);
            if (cut == 0) Expect.Refused(r, "cut.onnx", "empty");
            else Expect.Refused(r, "cut.onnx");
            Expect.FolderHolds(dir.Path, "cut.onnx");
        }
    }

    [Fact]
    public void EveryCutInsideTheGraphIsRefused()
    {
        var bytes = File.ReadAllBytes(SamplePath);
        var top = Wire.Parse(bytes, 0, bytes.Length)!;
        var graph = top.Single(f => f.Number == ModelGraph);
        // Boundaries between the graph's own fields (nodes, initializers, inputs ...) and between the
        // fields of each node (inputs, outputs, attributes: the FlexAttention modifier graphs among them).
        var cuts = new SortedSet<int>();
        foreach (var f in graph.Children!)
        {
            cuts.Add(f.Start);
            cuts.Add(f.PayloadStart);
            if (f.Children is { } inner)
                foreach (var g in inner) cuts.Add(g.Start);
        }
        cuts.Add(graph.End - 1);
        using var dir = new TempDir("truncate");
        var input = dir.File("cut.onnx");
        foreach (var cut in cuts)
        {
            File.WriteAllBytes(input, bytes[..cut]);
            var r = CliHarness.Run("inspect", input);
            Expect.Refused(r, "cut.onnx", "not a valid ONNX model");
        }
        Assert.True(cuts.Count > 500, $"only {cuts.Count} cuts: the sample should have many more boundaries");
        var last = CliHarness.Run("convert", input, "-o", dir.File("out.onnx"));
        Expect.Refused(last, "cut.onnx");
        Expect.FolderHolds(dir.Path, "cut.onnx");
    }
}
