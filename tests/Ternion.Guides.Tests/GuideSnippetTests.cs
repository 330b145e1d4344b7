using System.Text.RegularExpressions;
using Ternion.TestSupport;

namespace Ternion.Guides.Tests;

/// <summary>
/// Every code block of the guides is a verbatim copy of a marked region of a file that the build
/// compiles (and these tests run), so a guide cannot show code that does not work. A block says
/// where it comes from with a comment line right above it:
///   &lt;!-- snippet: tests/Ternion.Guides.Tests/GuideCode/StripNodeDocStrings.cs#strip-doc-strings --&gt;
/// and the file marks the region with "guide:begin NAME" / "guide:end NAME" comment lines.
/// Shell and text blocks (commands, output) are the only ones allowed without a source.
/// </summary>
public partial class GuideSnippetTests
{
    public static TheoryData<string, int> Guides() => new()
    {
        { "docs/adding-a-pass.md", 3 },
        { "docs/adding-a-target.md", 3 },
        { "docs/plugins.md", 0 },
    };

    private static readonly string[] CheckedLanguages = ["csharp", "cs", "c#", "xml"];
    private static readonly string[] FreeLanguages = ["sh", "shell", "bash", "console", "text", ""];

    [Theory]
    [MemberData(nameof(Guides))]
    public void EveryCodeBlockIsItsRegionVerbatim(string guide, int minimumSnippets)
    {
        var lines = File.ReadAllLines(Path.Combine(Paths.RepoRoot, guide));
        int snippets = 0;
        string? pending = null;
        for (int i = 0; i < lines.Length; i++)
        {
            var marker = SnippetMarker().Match(lines[i]);
            if (marker.Success) { pending = marker.Groups[1].Value; continue; }
            if (!lines[i].StartsWith("```", StringComparison.Ordinal))
            {
                if (pending is not null && lines[i].Trim().Length > 0)
                    Assert.Fail($"{guide}:{i + 1}: the snippet marker for {pending} must be followed by its code block");
                continue;
            }
            string language = lines[i][3..].Trim().ToLowerInvariant();
            int end = Array.FindIndex(lines, i + 1, l => l.StartsWith("```", StringComparison.Ordinal));
            Assert.True(end > i, $"{guide}:{i + 1}: code block is not closed");
            var block = string.Join("\n", lines[(i + 1)..end]);
            if (pending is not null)
            {
                Assert.Equal(Region(pending), block);
                snippets++;
            }
            else if (!FreeLanguages.Contains(language))
                Assert.Fail($"{guide}:{i + 1}: a ```{language} block needs a snippet marker naming its source" +
                    (CheckedLanguages.Contains(language) ? "" : $" (or use one of: {string.Join(", ", FreeLanguages.Where(l => l.Length > 0))})"));
            pending = null;
            i = end;
        }
        Assert.Null(pending);
        Assert.True(snippets >= minimumSnippets, $"{guide} has {snippets} checked snippet(s); it should show at least {minimumSnippets}");
    }

    /// <summary>The lines between "guide:begin NAME" and "guide:end NAME", without their common indentation.</summary>
    private static string Region(string reference)
    {
        var (file, name) = (reference.Split('#')[0], reference.Split('#')[1]);
        var lines = File.ReadAllLines(Path.Combine(Paths.RepoRoot, file));
        int begin = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"guide:begin {Regex.Escape(name)}\b"));
        int end = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"guide:end {Regex.Escape(name)}\b"));
        Assert.True(begin >= 0 && end > begin, $"{file} has no region '{name}' (guide:begin {name} ... guide:end {name})");
        var body = lines[(begin + 1)..end];
        int indent = body.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    [Fact]
    public void ARegionIsFoundAndDedented()
    {
        var text = Region("tests/Ternion.Guides.Tests/PassGuideTests.cs#run-passes");
        Assert.StartsWith("var manager = new PassManager(\n    [new SortTopologically()", text);
        Assert.EndsWith("var result = manager.Run(model, new PassContext(logger: logger));", text);
    }

    [GeneratedRegex(@"^<!-- snippet: (\S+#\S+) -->\s*$")]
    private static partial Regex SnippetMarker();
}
