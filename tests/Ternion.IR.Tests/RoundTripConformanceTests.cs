using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.IR.Tests;

/// <summary>
/// load -> IR -> save must give the same ModelProto, field by field. The only canonicalisation is
/// the serializer's: repeated scalars are written as the schema declares them (packed or not),
/// whatever the file used. On every model of the shared corpus's conformance/ and models/, and on
/// any clone on the vendored node tests, the sample and the generated function and external-data
/// models.
/// </summary>
public class RoundTripConformanceTests(ITestOutputHelper output)
{
    [SharedDataFact("conformance", "models")]
    public void EveryConformanceAndRealModelRoundTripsFieldByField()
    {
        var files = Paths.AllSharedModels().ToList();
        Assert.True(files.Count > 1900, $"expected about 2,000 shared models, found {files.Count}");
        var (identicalFile, withViews, failures) = RoundTrip(files, Paths.Shared);
        output.WriteLine($"round trip: {files.Count - failures.Count} of {files.Count} models equal field by field; {identicalFile} byte-identical to the file itself; {withViews} tensors read in place (bytes left in the file)");
        // The shared models hold 146 inline tensors of 1 KiB or more: all of them must be read in place.
        Assert.True(withViews >= 146, $"only {withViews} tensors were read in place");
        Assert.True(failures.Count == 0, $"{failures.Count} models differ after a round trip:\n" + string.Join("\n", failures.Take(30)));
    }

    [Fact]
    public void EveryVendoredAndGeneratedModelRoundTripsByteForByte()
    {
        using var generated = new TempDir("generated");
        GeneratedModels.WriteFunctionModel(generated.Path);
        var files = Directory.EnumerateFiles(Paths.TestData, "*.onnx", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .Order(StringComparer.Ordinal)
            .Append(Path.Combine(generated.Path, "generated_function", "model.onnx"))
            .ToList();
        // The sample (2 files), 14 + 4 node tests: subgraphs, float16/bfloat16, FlexAttention in both forms.
        Assert.True(files.Count >= 21, $"expected the sample, the vendored node tests and a generated model, found {files.Count}");
        var (identicalFile, _, failures) = RoundTrip(files, Paths.RepoRoot);
        output.WriteLine($"round trip: {files.Count - failures.Count} of {files.Count} vendored and generated models equal field by field; {identicalFile} byte-identical to the file itself");
        Assert.True(failures.Count == 0, $"{failures.Count} models differ after a round trip:\n" + string.Join("\n", failures));
        Assert.Equal(files.Count, identicalFile);
    }

    /// <summary>External data comes back as the same model file and the same data file when saved again.</summary>
    [Fact]
    public void AModelWithExternalDataSavesToTheSameTwoFiles()
    {
        using var dir = new TempDir("external");
        var source = GeneratedModels.WriteExternalDataModel(dir.Path);
        var model = ModelSerializer.Load(Path.Combine(source, "model.onnx"));
        Assert.All(model.AllTensors(), t => Assert.True(t.IsExternal, $"{t.Name} should be read as external data"));
        var again = Path.Combine(dir.Path, "again");
        Directory.CreateDirectory(again);
        var saved = ModelSerializer.Save(model, Path.Combine(again, "model.onnx"));
        Assert.Equal(2, saved.ExternalTensors);
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "model.onnx")), File.ReadAllBytes(saved.ModelPath));
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "model.onnx.data")), File.ReadAllBytes(saved.DataPath!));
    }

    private static (int IdenticalFile, int WithViews, List<string> Failures) RoundTrip(IReadOnlyList<string> files, string root)
    {
        int identicalFile = 0, withViews = 0;
        var failures = new List<string>();
        foreach (var f in files)
        {
            var original = File.ReadAllBytes(f);
            var expected = ModelProto.Parser.ParseFrom(original);
            Model model;
            try { model = ModelSerializer.Load(f); }
            catch (TernionException e) { failures.Add($"{Path.GetRelativePath(root, f)}: load failed: {e.Message}"); continue; }
            var actual = ModelSerializer.ToProto(model);
            var a = actual.ToByteArray();
            var e2 = expected.ToByteArray();
            if (!a.AsSpan().SequenceEqual(e2))
            {
                failures.Add($"{Path.GetRelativePath(root, f)}: {ProtoDiff.First(expected, actual)}");
                continue;
            }
            // The streaming writer (what Save writes) puts the tensor bytes left in the file back
            // exactly where Google.Protobuf would have written them.
            if (!ModelSerializer.ToBytes(model).AsSpan().SequenceEqual(e2))
            {
                failures.Add($"{Path.GetRelativePath(root, f)}: the streamed serialization differs from Google.Protobuf's");
                continue;
            }
            withViews += model.AllTensors().Count(t => t.Data is ProtoTensorData { Payload: not null });
            if (a.AsSpan().SequenceEqual(original)) identicalFile++;
        }
        return (identicalFile, withViews, failures);
    }
}
