using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public sealed class GlobTests
{
    [Theory]
    [InlineData("*.log", "debug.log", true)]
    [InlineData("*.log", "logs/debug.log", false)]
    [InlineData("**/*.log", "logs/deep/debug.log", true)]
    [InlineData("**/*.log", "debug.log", true)]
    [InlineData("logs/**", "logs/a/b.txt", true)]
    [InlineData("logs/**", "src/a.txt", false)]
    [InlineData("tmp", "tmp", true)]
    [InlineData("tmp", "tmpfile", false)]
    [InlineData("file?.js", "file1.js", true)]
    [InlineData("file?.js", "file/.js", false)]
    [InlineData("*", "", true)]
    [InlineData("", "a", false)]
    public void Matches_as_a_shell_glob(string pattern, string path, bool expected)
    {
        Glob.Matches(pattern, path).Should().Be(expected);
    }
}
