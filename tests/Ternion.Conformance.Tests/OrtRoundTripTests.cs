using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Conformance.Tests;

/// <summary>
/// For every ONNX node test that ONNX Runtime passes when run directly (node_features.tsv: PASS),
/// the model after load -> IR -> save still gives the expected outputs on ONNX Runtime, with the
/// tolerances of ONNX's own runner (rtol 1e-3, atol 1e-7). The whole corpus where the shared
/// folder is, and on any clone the vendored node tests plus the generated models with a
/// model-local function and with external data.
/// </summary>
public class OrtRoundTripTests(ITestOutputHelper output)
{
    [SharedDataFact("conformance/onnx-node", "conformance/meta/node_features.tsv")]
    public void RoundTrippedNodeTestsStillMatchExpectedOutputsOnOnnxRuntime()
    {
        var cases = NodeTests.All().Where(c => c.OrtStatus == "PASS").ToList();
        Assert.True(cases.Count > 1400, $"expected about 1,479 ORT-passing node tests, found {cases.Count}");
        Check(cases, "node tests");
    }

    [Fact]
    public void RoundTrippedVendoredAndGeneratedModelsStillMatchExpectedOutputsOnOnnxRuntime()
    {
        using var generated = new TempDir("generated");
        var cases = NodeTests.All(Paths.VendoredConformance).Where(c => c.OrtStatus == "PASS")
            .Append(new ConformanceCase("generated_function", GeneratedModels.WriteFunctionModel(generated.Path), "PASS", ""))
            .Append(new ConformanceCase("generated_external_data", GeneratedModels.WriteExternalDataModel(generated.Path), "PASS", ""))
            .ToList();
        Assert.Equal(10, cases.Count); // 8 vendored tests that ORT runs, 2 generated
        Check(cases, "vendored and generated models");
    }

    private void Check(IReadOnlyList<ConformanceCase> cases, string what)
    {
        var failures = new List<string>();
        using var saved = new TempDir("ort-roundtrip");
        foreach (var c in cases)
        {
            try
            {
                var model = ModelSerializer.Load(c.ModelPath);
                var inputs = ModelVerifier.ReadInputs(model, c.DataSet);
                List<(string Name, RunValue Value)> outputs;
                if (model.AllTensors().Any(t => t.IsExternal))
                {
                    // Through the file system, as a user's model with a data file beside it would be.
                    var path = Path.Combine(saved.Path, c.Name + ".onnx");
                    ModelSerializer.Save(model, path);
                    outputs = OrtRunner.Run(path, inputs, new OrtRunOptions { Threads = 1 });
                }
                else outputs = OrtRunner.Run(ModelSerializer.ToBytes(model), inputs, new OrtRunOptions { Threads = 1 });
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
        output.WriteLine($"ONNX Runtime on round-tripped {what}: {cases.Count - failures.Count} of {cases.Count} match their expected outputs");
        Assert.True(failures.Count == 0, $"{failures.Count} round-tripped {what} no longer match:\n" + string.Join("\n", failures.Take(30)));
    }
}
