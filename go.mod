module github.com/tongban/tongban

go 1.26.8
