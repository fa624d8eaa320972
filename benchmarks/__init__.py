"""Speed measurements (`qa bench`) and the throwaway local servers they and the tests run;
outside the qa package: nothing in qa imports them except the `qa bench` command."""
