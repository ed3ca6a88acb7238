# [plain](javascript:alert(1)) and
# [encoded](jav&#x61;script:alert(2)) and
# <a href="jav&#x61;script:alert(3)">raw HTML</a>.
x = 1
