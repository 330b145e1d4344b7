using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Google.Protobuf;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// The in-place reader (large tensor fields left in the file, the rest parsed) against the reader
/// that parses the whole file with Google.Protobuf, on mutants of models full of large inline
/// tensors: every mutant must be refused by both with the same message, or loaded by both into the
/// same model with the same tensor bytes; and what the in-place model writes must read back to it.
/// Lying lengths, truncated fields, overlapping or out-of-file ranges all come out of the mutator.
/// 800 cases by default (about 6 s); more with TERNION_INPLACE_CASES=N, another seed with TERNION_INPLACE_SEED=S.
/// </summary>
public class InPlaceReadingTests(ITestOutputHelper log)
{
    private const int DefaultSeed = 20261207;

    [Fact]
    public void MutantsLoadInPlaceExactlyAsTheWholeFileParserLoadsThem()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("TERNION_INPLACE_SEED"), CultureInfo.InvariantCulture, out var s) ? s : DefaultSeed;
        int cases = int.TryParse(Environment.GetEnvironmentVariable("TERNION_INPLACE_CASES"), CultureInfo.InvariantCulture, out var c) ? c : 800;
        var seeds = new List<(string Name, byte[] Bytes)>
        {
            ("all inline kinds", InlineModels.AllKinds().Model.ToByteArray()),
            ("bitnet-tiny", File.ReadAllBytes(TruncationTests.SamplePath)),
        };
        var trees = seeds.Select(x => Wire.Parse(x.Bytes, 0, x.Bytes.Length)).ToList();
        var clock = Stopwatch.StartNew();
        int refused = 0, loaded = 0, inPlace = 0;
        var failures = new List<string>();
        for (int i = 0; i < cases && failures.Count < 5; i++)
        {
            var rng = new Random(HashCode.Combine(seed, i));
            // The sample (5.5 MB) costs ten times the small model per case: one case in five.
            int pick = rng.Next(5) == 0 ? 1 : 0;
            var mutator = new Mutator(rng);
            var mutant = mutator.Mutate(seeds[pick].Bytes, trees[pick]);
            string what = $"case {i} (seed {seed}): {seeds[pick].Name}, {mutator.Describe}";
            try
            {
                switch (Compare(mutant))
                {
                    case null: refused++; break;
                    case var tensorsInPlace: loaded++; inPlace += tensorsInPlace.Value; break;
                }
            }
            catch (Exception e) when (e is Xunit.Sdk.XunitException or TernionException or InvalidOperationException)
            {
                failures.Add($"{what}: {e.GetType().Name}: {e.Message}");
            }
        }
        log.WriteLine($"{cases} mutants in {clock.Elapsed.TotalSeconds:F1} s: {refused} refused by both, {loaded} loaded by both ({inPlace} tensors read in place)");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // Both outcomes occur, and loaded mutants do exercise reading in place.
        Assert.True(refused > cases / 10 && loaded > cases / 10 && inPlace > loaded, $"{refused} refused, {loaded} loaded, {inPlace} in place");
    }

    /// <summary>Null when both readers refused the bytes alike; else the number of tensors read in place.</summary>
    private static int? Compare(byte[] bytes)
    {
        Model? reference = null, model = null;
        var referenceError = Record.Exception(() => reference = ModelSerializer.FromBytesParsedWhole(bytes, "m.onnx"));
        var error = Record.Exception(() => model = ModelSerializer.FromBytes(bytes, "m.onnx"));
        if (referenceError is not null || error is not null)
        {
            if (referenceError is not TernionException || error is not TernionException)
                throw new Xunit.Sdk.XunitException($"parse-whole: {Describe(referenceError)}; in place: {Describe(error)}");
            if (referenceError.Message != error.Message)
                throw new Xunit.Sdk.XunitException($"different refusals: parse-whole '{referenceError.Message}', in place '{error.Message}'");
            return null;
        }
        var expected = ModelSerializer.ToProto(reference!).ToByteArray();
        if (!expected.AsSpan().SequenceEqual(ModelSerializer.ToProto(model!).ToByteArray()))
            throw new Xunit.Sdk.XunitException("the models differ");
        var referenceTensors = reference!.AllTensors().ToList();
        var tensors = model!.AllTensors().ToList();
        for (int i = 0; i < tensors.Count; i++)
        {
            string a = Bytes(referenceTensors[i]), b = Bytes(tensors[i]);
            if (a != b) throw new Xunit.Sdk.XunitException($"tensor {i} ('{tensors[i].Name}') reads as {b}, the parse-whole reader as {a}");
        }
        // Written whole (streamed), it parses back to the same model.
        byte[] written;
        try { written = ModelSerializer.ToBytes(model!); }
        catch (TernionException e)
        {
            var referenceWrite = Record.Exception(() => ModelSerializer.ToBytes(reference!));
            if (referenceWrite?.Message != e.Message) throw new Xunit.Sdk.XunitException($"writing failed in place only: {e.Message}");
            return 0;
        }
        var again = ModelSerializer.ToProto(ModelSerializer.FromBytesParsedWhole(written, "again.onnx")).ToByteArray();
        if (!expected.AsSpan().SequenceEqual(again)) throw new Xunit.Sdk.XunitException("what the in-place model writes reads back differently");
        return tensors.Count(t => t.Data is ProtoTensorData { Payload: not null });
    }

    private static string Describe(Exception? e) => e is null ? "loaded" : $"{e.GetType().Name}: {e.Message}";

    /// <summary>A tensor's bytes as a hash, or the reason they cannot be read.</summary>
    private static string Bytes(Tensor t)
    {
        try
        {
            using var b = t.Data.Open();
            return Convert.ToHexString(SHA256.HashData(b.Span));
        }
        catch (TernionException e) { return "error: " + e.Message; }
    }
}
