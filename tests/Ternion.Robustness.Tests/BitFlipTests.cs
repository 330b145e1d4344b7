using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Every single-bit flip of a real model with subgraphs (ONNX's test_if, 321 bytes: 2,568 flips).
/// A flip may leave a valid model (a changed name or number) or break it (a wire type, a length, a
/// reference): either outcome is right, as long as a valid result converts to a file that loads
/// and a broken one is refused with one line naming it.
/// </summary>
public class BitFlipTests
{
    [Fact]
    public void EveryBitFlipOfAModelWithSubgraphsIsRefusedOrConverts()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Paths.VendoredConformance, "onnx-node", "test_if", "model.onnx"));
        using var dir = new TempDir("bitflip");
        var input = dir.File("flipped.onnx");
        var output = dir.File("out.onnx");
        int refused = 0, converted = 0;
        for (int bit = 0; bit < bytes.Length * 8; bit++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            File.WriteAllBytes(input, flipped);
            var r = CliHarness.Run("convert", input, "-o", output);
            Expect.HandledCleanly(r);
            if (r.ExitCode == 2)
            {
                Assert.True(r.ErrorLines[0].Contains("flipped.onnx"), $"bit {bit}: {r}");
                Expect.FolderHolds(dir.Path, "flipped.onnx");
                refused++;
            }
            else
            {
                Ternion.IR.Serialization.ModelSerializer.Load(output);
                File.Delete(output);
                converted++;
            }
        }
        // Both kinds occur: the test would prove little if every flip broke the file, or none did.
        Assert.True(refused > 200 && converted > 200, $"{refused} refused, {converted} converted");
    }
}
