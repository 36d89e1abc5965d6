using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class DotEnvTests
{
    [Fact]
    public void Dotenv_reads_comments_export_and_quoted_values()
    {
        var text = "\uFEFF# comment\r\n\r\nexport A=1\r\nB = spaced value # trailing comment\nC='single $X # kept'\nD=\"line\\nbreak \\\"q\\\"\" # c\nE=\nF=a#b\nA=2\n";

        var values = DotEnv.Parse(text, ".env", out var errors);

        errors.Should().BeEmpty();
        values.Should().Equal(new Dictionary<string, string>
        {
            ["A"] = "2",
            ["B"] = "spaced value",
            ["C"] = "single $X # kept",
            ["D"] = "line\nbreak \"q\"",
            ["E"] = "",
            ["F"] = "a#b",
        });
    }

    [Theory]
    [InlineData("JUST_A_WORD", "expected KEY=VALUE, got a line without \"=\" (its text is not shown: an env file may hold secrets)")]
    [InlineData("1A=x", "the text before \"=\" is not a valid variable name (letters, digits, \"_\", \".\" or \"-\", not starting with a digit)")]
    [InlineData("=x", "the text before \"=\" is not a valid variable name (letters, digits, \"_\", \".\" or \"-\", not starting with a digit)")]
    [InlineData("A='open", "the value of A has no closing '")]
    [InlineData("A=\"x\" y", "unexpected text after the quoted value of A")]
    public void Malformed_dotenv_line_is_an_error_at_its_line(string line, string expected)
        => MalformedLine(line, expected);

    /// <summary>Issue 13 (4): a PEM key pasted into an env file was quoted by the error, which reached nk start, nk
    /// resurrect and daemon.log. Errors say where and what is wrong, never the text.</summary>
    [Fact]
    public void No_error_quotes_what_the_env_file_holds()
    {
        const string Pem = "-----BEGIN PRIVATE KEY-----\nMIIEv+QIBADANBgkqhkiG9w0BAQEFAASCBKcwggSj/AgEAAoIBAQC7=Zx\nDB_PASSWORD=\"s3cr3t\" tail-of-s3cr3t\n-----END PRIVATE KEY-----\n";
        DotEnv.Parse(Pem, "conf/.env", out var errors);

        errors.Should().HaveCount(4);
        foreach (var text in errors.Select(e => e.ToString()))
        {
            text.Should().NotContainAny("BEGIN", "MIIEv", "s3cr3t", "END PRIVATE");
            text.Should().StartWith("conf/.env:");
        }
    }

    private static void MalformedLine(string line, string expected)
    {
        var values = DotEnv.Parse("OK=1\n" + line + "\nLAST=2", "conf/.env", out var errors);

        errors.Select(e => e.ToString()).Should().Equal("conf/.env:2:1: " + expected);
        values.Keys.Should().Equal("OK", "LAST");
    }
}
