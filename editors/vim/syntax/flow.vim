" editors/vim/syntax/flow.vim — highlighting of flowc workflow files (.flow).
" Keywords, types, strings with {{ }} interpolation, durations, comments,
" and C bodies between {% %} highlighted as C.
if exists("b:current_syntax")
  finish
endif

syn keyword flowDecl workflow import settings secrets trigger integration action test tests for
syn keyword flowTrigger event request schedule enabled
syn keyword flowAuth auth bearer basic header oauth2
syn keyword flowStatement step if else return fail log wait until
syn keyword flowStepKind function fanout in concurrency
syn keyword flowClause headers query json form body returns accept paginate cursor page link max timeout retry backoff
syn match flowClause "\<on\s\+failure\s\+continue\>"
syn match flowClause "\<fail\s\+when\>"
syn keyword flowTestItem mock expect env secret user then times delay
syn keyword flowOperator and or not
syn keyword flowConstant true false null
syn keyword flowType string int float bool
syn keyword flowRoot trigger settings secret env run output status

syn match flowStepName "\(\<step\s\+\)\@<=\h\w*"
syn match flowNumber "\<\d\+\(\.\d\+\)\=\([eE][+-]\=\d\+\)\=\>"
syn match flowDuration "\<\d\+\(ms\|s\|m\|h\|d\)\>"
syn match flowStatusClass "\<[1-5]xx\>"
syn match flowComment "#.*$" contains=@Spell

syn region flowInterp matchgroup=flowInterpDelim start="{{" end="}}" contained contains=flowRoot,flowOperator,flowConstant,flowNumber,flowDuration
syn match flowEscape "\\\(["\\/ntr]\|{{\|u{\x\{1,6}}\)" contained
syn region flowString start=+"+ skip=+\\\\\|\\"+ end=+"+ end=+$+ contains=flowInterp,flowEscape

syn include @flowC syntax/c.vim
unlet! b:current_syntax
syn region flowCBody matchgroup=flowCDelim start="{%" end="%}" contains=@flowC keepend

hi def link flowDecl Statement
hi def link flowTrigger Type
hi def link flowAuth Keyword
hi def link flowStatement Statement
hi def link flowStepKind Keyword
hi def link flowClause Keyword
hi def link flowTestItem Keyword
hi def link flowOperator Operator
hi def link flowConstant Constant
hi def link flowType Type
hi def link flowRoot Identifier
hi def link flowStepName Function
hi def link flowNumber Number
hi def link flowDuration Number
hi def link flowStatusClass Number
hi def link flowComment Comment
hi def link flowString String
hi def link flowEscape SpecialChar
hi def link flowInterpDelim Delimiter
hi def link flowCDelim Delimiter

let b:current_syntax = "flow"
