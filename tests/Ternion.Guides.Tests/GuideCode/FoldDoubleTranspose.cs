using Ternion.Passes.Rewriting;

namespace Ternion.Guides.Tests.GuideCode;

// guide:begin fold-double-transpose
/// <summary>Transpose(Transpose(X, p1), p2) is X itself when p2 undoes p1.</summary>
public sealed class FoldDoubleTranspose : RewritePass
{
    public static readonly RewriteRule Rule = new()
    {
        Name = "FoldDoubleTranspose",
        Pattern = Pattern.Op("Transpose", Pattern.Op("Transpose", Pattern.Any("X")).As("inner")).As("outer"),
        Condition = m =>
        {
            var p1 = m.Node("inner").GetInts("perm");
            var p2 = m.Node("outer").GetInts("perm");
            if (p1 is null || p2 is null) return "a Transpose has no 'perm' (its rank is not known here)";
            if (p1.Count != p2.Count) return $"the perms have ranks {p1.Count} and {p2.Count}";
            // Output axis i of the pair is input axis p1[p2[i]]: the pair is the identity when that is i.
            for (int i = 0; i < p2.Count; i++)
                if (p1[(int)p2[i]] != i) return $"perm [{string.Join(",", p2)}] does not undo perm [{string.Join(",", p1)}]";
            return null;
        },
        Replacement = (m, b) => [m["X"]],
    };

    public override IReadOnlyList<RewriteRule> Rules => [Rule];
}
// guide:end fold-double-transpose
