using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class SignalsTests
{
    [Theory]
    [InlineData("SIGHUP", 1)]
    [InlineData("SIGINT", 2)]
    [InlineData("SIGQUIT", 3)]
    [InlineData("SIGABRT", 6)]
    [InlineData("SIGKILL", 9)]
    [InlineData("SIGUSR1", 10)]
    [InlineData("SIGUSR2", 12)]
    [InlineData("SIGALRM", 14)]
    [InlineData("SIGTERM", 15)]
    [InlineData("SIGCONT", 18)]
    [InlineData("SIGSTOP", 19)]
    [InlineData("SIGTSTP", 20)]
    [InlineData("SIGWINCH", 28)]
    [InlineData("TERM", 15)]
    [InlineData("usr2", 12)]
    public void Signal_names_have_their_linux_numbers(string name, int number)
    {
        Signals.Number(name).Should().Be(number);
    }

    [Theory]
    [InlineData("SIGFOO")]
    [InlineData("")]
    [InlineData("15")]
    public void Unknown_signal_has_no_number(string name)
    {
        Signals.Number(name).Should().BeNull();
        Signals.Normalize(name).Should().BeNull();
    }

    [Fact]
    public void Short_names_normalise_to_the_SIG_name()
    {
        Signals.Normalize("term").Should().Be("SIGTERM");
    }
}
