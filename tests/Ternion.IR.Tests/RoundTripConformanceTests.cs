using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.IR.Tests;

/// <summary>
/// Every model under ../shared/conformance and ../shared/models: load -> IR -> save must give the same
/// ModelProto, field by field. The only canonicalisation is the serializer's: repeated scalars are
/// written as the schema declares them (packed or not), whatever the file used.
/// </summary>
public class RoundTripConformanceTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryConformanceAndRealModelRoundTripsFieldByField()
    {
        var files = Paths.AllSharedModels().ToList();
        Assert.True(files.Count > 1900, $"expected about 2,000 shared models, found {files.Count}");
        int identicalFile = 0, withViews = 0;
        var failures = new List<string>();
        foreach (var f in files)
        {
            var original = File.ReadAllBytes(f);
            var expected = ModelProto.Parser.ParseFrom(original);
            Model model;
            try { model = ModelSerializer.Load(f); }
            catch (TernionException e) { failures.Add($"{Rel(f)}: load failed: {e.Message}"); continue; }
            var actual = ModelSerializer.ToProto(model);
            var a = actual.ToByteArray();
            var e2 = expected.ToByteArray();
            if (!a.AsSpan().SequenceEqual(e2))
            {
                failures.Add($"{Rel(f)}: {ProtoDiff.First(expected, actual)}");
                continue;
            }
            // The streaming writer (what Save writes) puts the tensor bytes left in the file back
            // exactly where Google.Protobuf would have written them.
            if (!ModelSerializer.ToBytes(model).AsSpan().SequenceEqual(e2))
            {
                failures.Add($"{Rel(f)}: the streamed serialization differs from Google.Protobuf's");
                continue;
            }
            withViews += model.AllTensors().Count(t => t.Data is ProtoTensorData { Payload: not null });
            if (a.AsSpan().SequenceEqual(original)) identicalFile++;
        }
        output.WriteLine($"round trip: {files.Count - failures.Count} of {files.Count} models equal field by field; {identicalFile} byte-identical to the file itself; {withViews} tensors read in place (bytes left in the file)");
        // The shared models hold 146 inline tensors of 1 KiB or more: all of them must be read in place.
        Assert.True(withViews >= 146, $"only {withViews} tensors were read in place");
        Assert.True(failures.Count == 0, $"{failures.Count} models differ after a round trip:\n" + string.Join("\n", failures.Take(30)));
    }

    private static string Rel(string f) => Path.GetRelativePath(Paths.Shared, f);
}
