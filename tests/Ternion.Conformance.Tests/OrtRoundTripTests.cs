using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Conformance.Tests;

/// <summary>
/// For every ONNX node test that ONNX Runtime passes when run directly (node_features.tsv: PASS),
/// the model after load -> IR -> save still gives the expected outputs on ONNX Runtime, with the
/// tolerances of ONNX's own runner (rtol 1e-3, atol 1e-7).
/// </summary>
public class OrtRoundTripTests(ITestOutputHelper output)
{
    [Fact]
    public void RoundTrippedNodeTestsStillMatchExpectedOutputsOnOnnxRuntime()
    {
        var cases = NodeTests.All().Where(c => c.OrtStatus == "PASS").ToList();
        Assert.True(cases.Count > 1400, $"expected about 1,479 ORT-passing node tests, found {cases.Count}");
        var failures = new List<string>();
        foreach (var c in cases)
        {
            try
            {
                var model = ModelSerializer.Load(c.ModelPath);
                var bytes = ModelSerializer.ToBytes(model);
                var inputs = ModelVerifier.ReadInputs(model, c.DataSet);
                var outputs = OrtRunner.Run(bytes, inputs, new OrtRunOptions { Threads = 1 });
                var declared = model.Graph.Outputs.ToList();
                for (int i = 0; i < declared.Count; i++)
                {
                    var file = Path.Combine(c.DataSet, $"output_{i}.pb");
                    var expected = TestDataReader.Read(file, declared[i].Type);
                    var actual = outputs.First(o => o.Name == declared[i].Name).Value;
                    var cmp = Comparison.Compare(declared[i].Name, expected, actual, 1e-3, 1e-7);
                    if (!cmp.Ok) { failures.Add($"{c.Name}: {cmp}"); break; }
                }
            }
            catch (TernionException e) { failures.Add($"{c.Name}: {e.Message}"); }
        }
        output.WriteLine($"ONNX Runtime on round-tripped node tests: {cases.Count - failures.Count} of {cases.Count} match their expected outputs");
        Assert.True(failures.Count == 0, $"{failures.Count} round-tripped node tests no longer match:\n" + string.Join("\n", failures.Take(30)));
    }
}
